package p2p

import (
	coreconnmgr "github.com/libp2p/go-libp2p/core/connmgr"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
)

// openHost is the node's libp2p host: Config.Host when the caller supplies
// one (an emulated network's), otherwise one newHost builds from the
// identity key, listen addresses and the admission gater.
func openHost(c *Config, key crypto.PrivKey, gater coreconnmgr.ConnectionGater) (host.Host, coreconnmgr.ConnManager, error) {
	if c.Host != nil {
		// The gater cannot be installed on a host that already exists:
		// admission then rests on the gossip layer (see Config.Host).
		return c.Host, hostConnMgr{c.Host.ConnManager()}, nil
	}
	return newHost(c, key, gater)
}

// hostConnMgr is a supplied host's connection manager. The node protects
// validators, bootnodes and builders in it as in its own, but the host
// closes it when the host closes, so the node's Close leaves it alone.
type hostConnMgr struct{ coreconnmgr.ConnManager }

func (hostConnMgr) Close() error { return nil }
