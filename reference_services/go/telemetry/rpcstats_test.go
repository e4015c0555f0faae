package telemetry

import (
	"testing"

	"google.golang.org/grpc/codes"
)

func TestCodeName(t *testing.T) {
	for code, want := range map[codes.Code]string{
		codes.OK: "OK", codes.Canceled: "CANCELLED", codes.DeadlineExceeded: "DEADLINE_EXCEEDED",
		codes.Unauthenticated: "UNAUTHENTICATED", codes.Code(42): "CODE(42)",
	} {
		if got := CodeName(code); got != want {
			t.Errorf("CodeName(%d) = %q, want %q", code, got, want)
		}
	}
}

func TestStableRPCSemconv(t *testing.T) {
	for value, want := range map[string]bool{
		"": true, "rpc": true, "http,rpc/old": false, "rpc/dup": true, "rpc/dup,rpc/old": true, "rpc/old,rpc/dup": false,
	} {
		if got := stableRPCSemconv(value); got != want {
			t.Errorf("stableRPCSemconv(%q) = %v, want %v", value, got, want)
		}
	}
}
