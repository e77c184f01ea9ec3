package buildinfo

import (
	"strings"
	"testing"
)

func TestVersionOverride(t *testing.T) {
	old := version
	defer func() { version = old }()
	version = "v9.8.7"
	if got := Version(); got != "v9.8.7" {
		t.Fatalf("Version() = %q, want the link-time value", got)
	}
	if got := Line("testnet"); !strings.HasPrefix(got, "testnet v9.8.7 (polkadot-provisioner, go") {
		t.Fatalf("Line() = %q", got)
	}
}
