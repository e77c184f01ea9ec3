package main

import (
	"context"
	"fmt"
	"time"
)

// statusInterval is how often the status line is logged (Substrate's
// informant also logs every 5 s).
const statusInterval = 5 * time.Second

// shortHash is 0x1234…abcd, as Substrate's informant prints hashes.
func shortHash(s string) string {
	if len(s) <= 14 {
		return s
	}
	return s[:6] + "…" + s[len(s)-4:]
}

// statusLine is the periodic line, and whether it is a warning (no peers:
// the node can neither hear gossip nor be heard).
func statusLine(s snapshot) (string, bool) {
	line := fmt.Sprintf("%s: best #%d (%s), %d active leaves, %d peers (%d validators, %d others), held for the best leaf: %d bitfields, %d candidates; %d disputes, %d misbehaviour reports",
		s.Name, s.Best.Number, shortHash(s.Best.Hash.String()), len(s.Leaves),
		s.PeersTotal, s.ValidatorPeers, s.PeersTotal-s.ValidatorPeers,
		s.Held.Bitfields, s.Held.Candidates, s.Held.Disputes, s.Held.Misbehavior)
	warn := false
	if s.PeersTotal == 0 {
		line += "; no peers"
		warn = true
	}
	if s.Unreachable > 0 {
		line += fmt.Sprintf("; %d bootnodes unreachable", s.Unreachable)
	}
	if s.ForeignPeers > 0 {
		line += fmt.Sprintf("; %d peers on another network", s.ForeignPeers)
	}
	return line, warn
}

// statusLoop logs the status line every interval until ctx ends.
func statusLoop(ctx context.Context, v nodeView, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			line, warn := statusLine(v.snapshot())
			if warn {
				log.Warn(line)
			} else {
				log.Info(line)
			}
		}
	}
}
