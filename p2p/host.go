package p2p

import (
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/muxer/yamux"
	"github.com/libp2p/go-libp2p/p2p/net/connmgr"
	"github.com/libp2p/go-libp2p/p2p/security/noise"
	quic "github.com/libp2p/go-libp2p/p2p/transport/quic"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"
	ma "github.com/multiformats/go-multiaddr"
)

// IdentityFile is where the network key lives below the base path: the
// 32-byte ed25519 secret (seed), like Substrate's network/secret_ed25519.
const IdentityFile = "network/secret_ed25519"

// LoadOrCreateIdentity returns the node's network key from
// <basePath>/network/secret_ed25519, creating it (mode 0600) the first time.
func LoadOrCreateIdentity(basePath string) (crypto.PrivKey, error) {
	path := filepath.Join(basePath, filepath.FromSlash(IdentityFile))
	b, err := os.ReadFile(path)
	switch {
	case err == nil:
		if len(b) != ed25519.SeedSize {
			return nil, fmt.Errorf("p2p: identity key %s: %d bytes, want %d", path, len(b), ed25519.SeedSize)
		}
		return keyFromSeed(b)
	case !errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("p2p: identity key: %w", err)
	}
	seed := make([]byte, ed25519.SeedSize)
	if _, err := rand.Read(seed); err != nil {
		return nil, fmt.Errorf("p2p: identity key: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("p2p: identity key: %w", err)
	}
	// Write to a temporary file and link it into place, so a crash never
	// leaves a truncated key and two racing starts agree on one key.
	tmp, err := os.CreateTemp(filepath.Dir(path), ".secret_ed25519-*")
	if err != nil {
		return nil, fmt.Errorf("p2p: identity key: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(seed); err != nil {
		tmp.Close()
		return nil, fmt.Errorf("p2p: identity key: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return nil, fmt.Errorf("p2p: identity key: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return nil, fmt.Errorf("p2p: identity key: %w", err)
	}
	if err := os.Link(tmp.Name(), path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return LoadOrCreateIdentity(basePath)
		}
		return nil, fmt.Errorf("p2p: identity key: %w", err)
	}
	return keyFromSeed(seed)
}

func keyFromSeed(seed []byte) (crypto.PrivKey, error) {
	return crypto.UnmarshalEd25519PrivateKey(ed25519.NewKeyFromSeed(seed))
}

func (c *Config) identity() (crypto.PrivKey, error) {
	switch {
	case c.PrivateKey != nil:
		return c.PrivateKey, nil
	case c.BasePath != "":
		return LoadOrCreateIdentity(c.BasePath)
	}
	k, _, err := crypto.GenerateEd25519Key(rand.Reader)
	return k, err
}

// newHost builds the libp2p host: TCP and QUIC, Noise, yamux, a connection
// manager, no relay, no NAT port mapping, no libp2p metrics.
func newHost(c *Config, key crypto.PrivKey) (host.Host, *connmgr.BasicConnMgr, error) {
	cm, err := connmgr.NewConnManager(c.ConnLow, c.ConnHigh, connmgr.WithGracePeriod(c.ConnGrace))
	if err != nil {
		return nil, nil, fmt.Errorf("p2p: connection manager: %w", err)
	}
	h, err := libp2p.New(
		libp2p.Identity(key),
		libp2p.ListenAddrStrings(c.ListenAddrs...),
		libp2p.Transport(tcp.NewTCPTransport),
		libp2p.Transport(quic.NewTransport),
		libp2p.Security(noise.ID, noise.New),
		libp2p.Muxer(yamux.ID, yamux.DefaultTransport),
		libp2p.ConnectionManager(cm),
		libp2p.DisableRelay(),
		libp2p.DisableMetrics(),
	)
	if err != nil {
		cm.Close()
		return nil, nil, fmt.Errorf("p2p: libp2p host: %w", err)
	}
	return h, cm, nil
}

// ParsePeerAddrs parses multiaddrs that end in /p2p/<peer id>, merging
// addresses of one peer.
func ParsePeerAddrs(addrs []string) ([]peer.AddrInfo, error) {
	mas := make([]ma.Multiaddr, 0, len(addrs))
	for _, s := range addrs {
		m, err := ma.NewMultiaddr(s)
		if err != nil {
			return nil, fmt.Errorf("p2p: peer address %q: %w", s, err)
		}
		mas = append(mas, m)
	}
	infos, err := peer.AddrInfosFromP2pAddrs(mas...)
	if err != nil {
		return nil, fmt.Errorf("p2p: peer addresses: %w", err)
	}
	return infos, nil
}
