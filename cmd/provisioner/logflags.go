package main

import (
	"fmt"
	"strings"

	logging "github.com/ipfs/go-log/v2"
)

// logDirective is one target=level of -l/--log; an empty target means
// every subsystem.
type logDirective struct {
	target string
	level  string
}

// parseLogDirectives parses Substrate's -l syntax: comma-separated
// target=level pairs, where a bare level sets every subsystem
// ("info,p2p=debug"). Targets are go-log subsystem names.
func parseLogDirectives(s string) ([]logDirective, error) {
	var out []logDirective
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		target, level, hasTarget := strings.Cut(part, "=")
		if !hasTarget {
			target, level = "", part
		}
		target, level = strings.TrimSpace(target), strings.ToLower(strings.TrimSpace(level))
		if hasTarget && target == "" {
			return nil, fmt.Errorf("log directive %q: empty target", part)
		}
		// Substrate's "trace" is go-log's "debug", its most verbose level.
		if level == "trace" {
			level = "debug"
		}
		if _, err := logging.Parse(level); err != nil || level == "" {
			return nil, fmt.Errorf("log directive %q: unknown level %q (debug, info, warn, error)", part, level)
		}
		out = append(out, logDirective{target: target, level: level})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("empty log directive %q", s)
	}
	return out, nil
}

// applyLogLevels sets every subsystem to base, then applies the
// directives in order (later ones win).
func applyLogLevels(base string, ds []logDirective) error {
	if err := logging.SetLogLevel("*", base); err != nil {
		return fmt.Errorf("--log-level: %w", err)
	}
	for _, d := range ds {
		target := d.target
		if target == "" {
			target = "*"
		}
		if err := logging.SetLogLevel(target, d.level); err != nil {
			return fmt.Errorf("--log %s=%s: %w", d.target, d.level, err)
		}
	}
	return nil
}
