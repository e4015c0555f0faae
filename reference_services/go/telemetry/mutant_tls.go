package telemetry

import (
	"crypto/tls"
	"os"

	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"google.golang.org/grpc/credentials"
)

// SkipVerificationMutant names the mutant whose trace exporter trusts any collector
// certificate (InsecureSkipVerify): the shortcut that makes a TLS error go away, and
// leaves the exporter open to whoever answers at the collector's address.
const SkipVerificationMutant = "skip-collector-verification"

func traceTLSOptions() []otlptracegrpc.Option {
	if os.Getenv("CONFORMANCE_MUTANT") != SkipVerificationMutant {
		return nil // the exporter reads OTEL_EXPORTER_OTLP_CERTIFICATE and _CLIENT_* itself
	}
	config := &tls.Config{InsecureSkipVerify: true} //nolint:gosec // the mutant's whole point
	cert, err := tls.LoadX509KeyPair(os.Getenv("OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE"),
		os.Getenv("OTEL_EXPORTER_OTLP_CLIENT_KEY"))
	if err == nil {
		config.Certificates = []tls.Certificate{cert}
	}
	return []otlptracegrpc.Option{otlptracegrpc.WithTLSCredentials(credentials.NewTLS(config))}
}
