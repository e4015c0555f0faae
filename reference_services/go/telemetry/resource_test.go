package telemetry

import (
	"context"
	"testing"

	"go.opentelemetry.io/otel/attribute"
)

func TestNewResourcePrecedence(t *testing.T) {
	t.Setenv("OTEL_RESOURCE_ATTRIBUTES",
		"deployment.environment.name=conformance,conformance.marker=set%20from%20env,"+
			"service.name=name-from-resource-attributes,service.version=version-from-env")
	t.Setenv("OTEL_SERVICE_NAME", "name-from-service-name")
	res, err := newResource(context.Background(), "1.2.3")
	if err != nil {
		t.Fatalf("newResource: %v", err)
	}
	want := map[string]string{
		"service.name":                "name-from-service-name",
		"service.version":             "1.2.3",
		"deployment.environment.name": "conformance",
		"conformance.marker":          "set from env",
		"telemetry.sdk.language":      "go",
	}
	for key, value := range want {
		got, ok := res.Set().Value(attribute.Key(key))
		if !ok || got.AsString() != value {
			t.Errorf("%s = %q (present: %v), want %q", key, got.AsString(), ok, value)
		}
	}
	if got, ok := res.Set().Value("service.instance.id"); !ok || got.AsString() == "" {
		t.Errorf("service.instance.id missing")
	}
}

func TestNewResourceServiceNameFromAttributes(t *testing.T) {
	t.Setenv("OTEL_RESOURCE_ATTRIBUTES", "service.name=from-attributes")
	t.Setenv("OTEL_SERVICE_NAME", "")
	res, err := newResource(context.Background(), "1.2.3")
	if err != nil {
		t.Fatalf("newResource: %v", err)
	}
	if got, _ := res.Set().Value("service.name"); got.AsString() != "from-attributes" {
		t.Errorf("service.name = %q, want from-attributes (resource.Default's unknown_service must not win)", got.AsString())
	}
}
