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

func TestRPCSemconvMode(t *testing.T) {
	for value, want := range map[string][2]bool{
		"": {true, false}, "rpc": {true, false}, "http,rpc/old": {false, true}, "rpc/dup": {true, true},
		"rpc/dup,rpc/old": {true, true}, "rpc/old,rpc/dup": {false, true},
	} {
		if stable, legacy := rpcSemconvMode(value); stable != want[0] || legacy != want[1] {
			t.Errorf("rpcSemconvMode(%q) = %v,%v, want %v", value, stable, legacy, want)
		}
	}
}
