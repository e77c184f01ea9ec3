// Package buildinfo names the version of the project's binaries, printed by
// every tool's --version and carried in metrics and reports.
package buildinfo

import (
	"runtime/debug"
	"strings"
)

// version is set at link time (-ldflags "-X .../buildinfo.version=v1.2.3");
// without it the module version or VCS revision recorded by the Go
// toolchain is used.
var version = ""

// Name of the implementation, as Substrate's build info names its node.
const Name = "polkadot-provisioner"

// Version is the project's version: the link-time value, else the module
// version, else "0.0.0-dev+<revision>" from the VCS stamp (with "-dirty"
// when the tree had local changes), else "0.0.0-dev".
func Version() string {
	if version != "" {
		return version
	}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "0.0.0-dev"
	}
	if v := bi.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	var rev, dirty string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				dirty = "-dirty"
			}
		}
	}
	if rev == "" {
		return "0.0.0-dev"
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	return "0.0.0-dev+" + rev + dirty
}

// Line is what --version prints: "<tool> <version> (<go version>)".
func Line(tool string) string {
	goVersion := "unknown"
	if bi, ok := debug.ReadBuildInfo(); ok {
		goVersion = bi.GoVersion
	}
	return strings.Join([]string{tool, Version(), "(" + Name + ", " + goVersion + ")"}, " ")
}
