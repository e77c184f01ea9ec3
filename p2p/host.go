package p2p

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/libp2p/go-libp2p"
	coreconnmgr "github.com/libp2p/go-libp2p/core/connmgr"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	rcmgr "github.com/libp2p/go-libp2p/p2p/host/resource-manager"
	"github.com/libp2p/go-libp2p/p2p/muxer/yamux"
	"github.com/libp2p/go-libp2p/p2p/net/connmgr"
	"github.com/libp2p/go-libp2p/p2p/security/noise"
	quic "github.com/libp2p/go-libp2p/p2p/transport/quic"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"
	ma "github.com/multiformats/go-multiaddr"
)

// newResourceManager sizes libp2p's resource manager for the validator
// set rather than the machine: every validator may hold a couple of
// connections (a restart overlaps the old one), strangers their quota,
// builders and trusted peers one each. A peer gets a few connections, a
// bounded number of streams and 32 MiB (yamux windows and buffers are
// reserved from it), so no peer can take the memory of the others.
func newResourceManager(c *Config) (network.ResourceManager, error) {
	base := rcmgr.DefaultLimits
	libp2p.SetDefaultServiceLimits(&base)
	scaled := base.AutoScale()
	conns := 2*c.ValidatorSetSize + c.Admission.MaxStrangers + len(c.BuilderPeers) + len(c.TrustedPeers) + 32
	peerMem := int64(32 << 20)
	sysMem := min(int64(conns)*8<<20, 4<<30)
	limits := rcmgr.PartialLimitConfig{
		System: rcmgr.ResourceLimits{
			Conns: rcmgr.LimitVal(conns), ConnsInbound: rcmgr.LimitVal(conns), ConnsOutbound: rcmgr.LimitVal(conns),
			Streams: rcmgr.LimitVal(conns * 16), StreamsInbound: rcmgr.LimitVal(conns * 8),
			StreamsOutbound: rcmgr.LimitVal(conns * 8), FD: rcmgr.LimitVal(conns + 64),
			Memory: rcmgr.LimitVal64(sysMem),
		},
		Transient: rcmgr.ResourceLimits{
			Conns: rcmgr.LimitVal(conns / 4), ConnsInbound: rcmgr.LimitVal(conns / 8), ConnsOutbound: rcmgr.LimitVal(conns / 4),
			Streams: rcmgr.LimitVal(conns), StreamsInbound: rcmgr.LimitVal(conns / 2), StreamsOutbound: rcmgr.LimitVal(conns / 2),
			FD: rcmgr.LimitVal(conns / 4), Memory: rcmgr.LimitVal64(sysMem / 8),
		},
		PeerDefault: rcmgr.ResourceLimits{
			Conns: 8, ConnsInbound: 4, ConnsOutbound: 4,
			Streams: 256, StreamsInbound: 128, StreamsOutbound: 128,
			FD: 8, Memory: rcmgr.LimitVal64(peerMem),
		},
	}.Build(scaled)
	var opts []rcmgr.Option
	if c.LibP2PMetrics != nil {
		rcmgr.MustRegisterWith(c.LibP2PMetrics)
		str, err := rcmgr.NewStatsTraceReporter()
		if err != nil {
			return nil, fmt.Errorf("p2p: resource manager metrics: %w", err)
		}
		opts = append(opts, rcmgr.WithTraceReporter(str))
	} else {
		opts = append(opts, rcmgr.WithMetricsDisabled())
	}
	rm, err := rcmgr.NewResourceManager(rcmgr.NewFixedLimiter(limits), opts...)
	if err != nil {
		return nil, fmt.Errorf("p2p: resource manager: %w", err)
	}
	return rm, nil
}

// IdentityFile is where the network key lives below the base path, as in
// Substrate: <base-path>/network/secret_ed25519.
const IdentityFile = "network/secret_ed25519"

// Node key errors, testable with errors.Is.
var (
	// ErrBadNodeKey: a node key is neither 32 raw bytes nor 64 hex
	// characters.
	ErrBadNodeKey = errors.New("invalid node key")
	// ErrAddrInUse: a listen address is taken by another socket.
	ErrAddrInUse = errors.New("address already in use")
)

// ParseNodeKey decodes a Substrate node key: the 32-byte ed25519 secret as
// 64 hex characters (an optional 0x prefix and surrounding whitespace, such
// as the trailing newline of a file, are tolerated), which is what
// `polkadot key generate-node-key` prints and `--node-key` takes.
func ParseNodeKey(s string) (crypto.PrivKey, error) {
	s = strings.TrimSpace(s)
	s = strings.TrimPrefix(strings.TrimPrefix(s, "0x"), "0X")
	if len(s) != 2*ed25519.SeedSize {
		return nil, fmt.Errorf("%w: %d hex characters, want %d", ErrBadNodeKey, len(s), 2*ed25519.SeedSize)
	}
	seed, err := hex.DecodeString(s)
	if err != nil {
		// The hex error quotes one byte at most: no secret leaks into logs.
		return nil, fmt.Errorf("%w: not hex", ErrBadNodeKey)
	}
	return keyFromSeed(seed)
}

// decodeNodeKeyFile accepts both encodings Substrate accepts in a key file:
// exactly 32 raw bytes (what Substrate itself writes to
// network/secret_ed25519) or 64 hex characters (what
// `polkadot key generate-node-key --file` writes). The two cannot be
// confused: 32 bytes are never 64 characters.
func decodeNodeKeyFile(b []byte) (crypto.PrivKey, error) {
	if len(b) == ed25519.SeedSize {
		return keyFromSeed(b)
	}
	k, err := ParseNodeKey(string(b))
	if err != nil {
		return nil, fmt.Errorf("%w (or %d raw bytes; the file has %d bytes)", err, ed25519.SeedSize, len(b))
	}
	return k, nil
}

// ParseNodeKeyBytes decodes the content of a node key file: 32 raw bytes
// or 64 hex characters.
func ParseNodeKeyBytes(b []byte) (crypto.PrivKey, error) { return decodeNodeKeyFile(b) }

// LoadNodeKeyFile reads a node key file (32 raw bytes or 64 hex
// characters).
func LoadNodeKeyFile(path string) (crypto.PrivKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("p2p: node key: %w", err)
	}
	k, err := decodeNodeKeyFile(b)
	if err != nil {
		return nil, fmt.Errorf("p2p: node key %s: %w", path, err)
	}
	return k, nil
}

// GenerateNodeKey draws a new node key and returns it with its secret as
// the 64 hex characters a key file holds.
func GenerateNodeKey() (crypto.PrivKey, string, error) {
	seed := make([]byte, ed25519.SeedSize)
	if _, err := rand.Read(seed); err != nil {
		return nil, "", fmt.Errorf("p2p: node key: %w", err)
	}
	k, err := keyFromSeed(seed)
	if err != nil {
		return nil, "", err
	}
	return k, hex.EncodeToString(seed), nil
}

// NodeKeyPeerID is the peer id of a node key.
func NodeKeyPeerID(k crypto.PrivKey) (peer.ID, error) {
	id, err := peer.IDFromPrivateKey(k)
	if err != nil {
		return "", fmt.Errorf("p2p: peer id: %w", err)
	}
	return id, nil
}

// BuilderIdentityFile is where the identity of the node's own block
// builder lives below the base path. The node creates it at start and
// allows its peer id on the builder protocols; `blockbuilder --base-path`
// takes it as its identity.
const BuilderIdentityFile = "builder/secret_ed25519"

// LoadOrCreateIdentity returns the node's network key from
// <basePath>/network/secret_ed25519 (32 raw bytes or 64 hex characters),
// creating it (32 raw bytes, mode 0600, as Substrate does) the first time.
func LoadOrCreateIdentity(basePath string) (crypto.PrivKey, error) {
	return LoadOrCreateKeyFile(filepath.Join(basePath, filepath.FromSlash(IdentityFile)))
}

// LoadOrCreateBuilderIdentity returns the builder key of a base path
// (<basePath>/builder/secret_ed25519), creating it the first time.
func LoadOrCreateBuilderIdentity(basePath string) (crypto.PrivKey, error) {
	return LoadOrCreateKeyFile(filepath.Join(basePath, filepath.FromSlash(BuilderIdentityFile)))
}

// LoadOrCreateKeyFile returns the ed25519 key of a key file (32 raw bytes
// or 64 hex characters), creating it (32 raw bytes, mode 0600) the first
// time.
func LoadOrCreateKeyFile(path string) (crypto.PrivKey, error) {
	b, err := os.ReadFile(path)
	switch {
	case err == nil:
		k, err := decodeNodeKeyFile(b)
		if err != nil {
			return nil, fmt.Errorf("p2p: identity key %s: %w", path, err)
		}
		return k, nil
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
			return LoadOrCreateKeyFile(path)
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
// manager, no relay, no NAT port mapping. libp2p's own metrics (resource
// manager, identify, swarm) go to Config.LibP2PMetrics when it is set.
//
// A listen address another socket holds is an error (ErrAddrInUse), as an
// operator expects from Substrate. go-libp2p would otherwise hide it twice:
// its TCP transport binds with SO_REUSEPORT, so a second node shares the
// port silently (and the kernel splits the connections between the two),
// and the swarm starts as long as any one address could be bound. So
// SO_REUSEPORT is off, every address is probed before the host starts (for
// a clean error naming the address), and after the start every address
// must have its listener (for the race between the probe and the bind).
func newHost(c *Config, key crypto.PrivKey, gater coreconnmgr.ConnectionGater) (host.Host, *connmgr.BasicConnMgr, error) {
	if err := probeListenAddrs(c.ListenAddrs); err != nil {
		return nil, nil, err
	}
	cm, err := connmgr.NewConnManager(c.ConnLow, c.ConnHigh, connmgr.WithGracePeriod(c.ConnGrace))
	if err != nil {
		return nil, nil, fmt.Errorf("p2p: connection manager: %w", err)
	}
	rm, err := newResourceManager(c)
	if err != nil {
		cm.Close()
		return nil, nil, err
	}
	opts := []libp2p.Option{
		libp2p.ConnectionGater(gater),
		libp2p.ResourceManager(rm),
		libp2p.Identity(key),
		libp2p.ListenAddrStrings(c.ListenAddrs...),
		libp2p.Transport(tcp.NewTCPTransport, tcp.DisableReuseport()),
		libp2p.Transport(quic.NewTransport),
		libp2p.Security(noise.ID, noise.New),
		libp2p.Muxer(yamux.ID, yamux.DefaultTransport),
		libp2p.ConnectionManager(cm),
		libp2p.DisableRelay(),
	}
	if c.LibP2PMetrics != nil {
		opts = append(opts, libp2p.PrometheusRegisterer(c.LibP2PMetrics))
	} else {
		opts = append(opts, libp2p.DisableMetrics())
	}
	if c.BandwidthReporter != nil {
		opts = append(opts, libp2p.BandwidthReporter(c.BandwidthReporter))
	}
	h, err := libp2p.New(opts...)
	if err != nil {
		cm.Close()
		rm.Close()
		if a, ok := addrInUse(c.ListenAddrs, err); ok {
			return nil, nil, fmt.Errorf("p2p: listen %s: %w", a, ErrAddrInUse)
		}
		return nil, nil, fmt.Errorf("p2p: libp2p host: %w", err)
	}
	if err := checkListening(c.ListenAddrs, h.Network().ListenAddresses()); err != nil {
		h.Close()
		cm.Close()
		return nil, nil, err
	}
	return h, cm, nil
}

// probeListenAddrs binds each fixed TCP or UDP listen address once with a
// plain socket (no SO_REUSEPORT), which fails if any other socket holds
// it, and releases it at once. Port 0 and addresses that are not
// ip4/ip6 + tcp/udp are left to libp2p.
func probeListenAddrs(addrs []string) error {
	for _, s := range addrs {
		network, hostport, ok := socketAddr(s)
		if !ok {
			continue
		}
		var err error
		switch network {
		case "tcp4", "tcp6":
			var ln net.Listener
			if ln, err = net.Listen(network, hostport); err == nil {
				ln.Close()
			}
		default:
			var pc net.PacketConn
			if pc, err = net.ListenPacket(network, hostport); err == nil {
				pc.Close()
			}
		}
		switch {
		case errors.Is(err, syscall.EADDRINUSE):
			return fmt.Errorf("p2p: listen %s: %w", s, ErrAddrInUse)
		case err != nil:
			return fmt.Errorf("p2p: listen %s: %w", s, err)
		}
	}
	return nil
}

// socketAddr maps /ip4|ip6/<ip>/tcp|udp/<port>[/...] with a non-zero port
// to a Go network and host:port.
func socketAddr(s string) (network, hostport string, ok bool) {
	m, err := ma.NewMultiaddr(s)
	if err != nil {
		return "", "", false
	}
	comps := []ma.Component(m)
	if len(comps) < 2 {
		return "", "", false
	}
	var fam string
	switch comps[0].Protocol().Code {
	case ma.P_IP4:
		fam = "4"
	case ma.P_IP6:
		fam = "6"
	default:
		return "", "", false
	}
	switch comps[1].Protocol().Code {
	case ma.P_TCP:
		network = "tcp" + fam
	case ma.P_UDP:
		network = "udp" + fam
	default:
		return "", "", false
	}
	if comps[1].Value() == "0" {
		return "", "", false
	}
	return network, net.JoinHostPort(comps[0].Value(), comps[1].Value()), true
}

// addrInUse finds the configured address a libp2p start-up error blames
// on EADDRINUSE.
func addrInUse(addrs []string, err error) (string, bool) {
	if !errors.Is(err, syscall.EADDRINUSE) && !strings.Contains(err.Error(), ErrAddrInUse.Error()) {
		return "", false
	}
	for _, s := range addrs {
		if _, hp, ok := socketAddr(s); ok && strings.Contains(err.Error(), hp) {
			return s, true
		}
	}
	return strings.Join(addrs, ","), true
}

// checkListening reports the first configured address without a listener:
// the swarm logs and skips an address it cannot bind as long as another
// one works.
func checkListening(want []string, have []ma.Multiaddr) error {
	for _, s := range want {
		w, err := ma.NewMultiaddr(s)
		if err != nil {
			return fmt.Errorf("p2p: listen address %q: %w", s, err)
		}
		if !listenedOn(w, have) {
			if _, _, fixed := socketAddr(s); fixed {
				return fmt.Errorf("p2p: listen %s: %w", s, ErrAddrInUse)
			}
			return fmt.Errorf("p2p: listen %s: no listener", s)
		}
	}
	return nil
}

// listenedOn: some listener has w's protocols, IP and (unless 0) port.
func listenedOn(w ma.Multiaddr, have []ma.Multiaddr) bool {
	wc := []ma.Component(w)
	for _, h := range have {
		hc := []ma.Component(h)
		if len(hc) != len(wc) {
			continue
		}
		same := true
		for i := range wc {
			if wc[i].Protocol().Code != hc[i].Protocol().Code {
				same = false
				break
			}
			port := wc[i].Protocol().Code == ma.P_TCP || wc[i].Protocol().Code == ma.P_UDP
			if port && wc[i].Value() == "0" {
				continue
			}
			if wc[i].Value() != hc[i].Value() {
				same = false
				break
			}
		}
		if same {
			return true
		}
	}
	return false
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
