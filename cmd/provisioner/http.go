package main

import (
	"encoding/json"
	"net/http"
	"net/http/pprof"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/polkadot-provisioner/provisioner/cmd/internal/buildinfo"
	"github.com/polkadot-provisioner/provisioner/p2p"
	"github.com/polkadot-provisioner/provisioner/testnet"
	"github.com/polkadot-provisioner/provisioner/types"
)

// snapshot is what the status line, /health and the gauges read of a
// running node: cheap counts only (the peer list is separate).
type snapshot struct {
	Name, Version   string
	PeerID, Genesis string
	Best            testnet.BlockRef
	Leaves          []testnet.BlockRef
	Held            testnet.Held
	PeersTotal      int
	ValidatorPeers  int
	Unreachable     int // bootnodes unreachable for 30 s or more
	ForeignPeers    int // peers seen on another network
}

// nodeView reads a running node for the HTTP endpoints and the status
// line; tests put fakes in it.
type nodeView struct {
	snapshot func() snapshot
	peers    func() []p2p.PeerInfo
}

func nodeSnapshotter(n *testnet.Node, name string) nodeView {
	net := n.Net()
	// Once: the genesis hash is a hash of the whole chain spec (a JSON
	// encoding of every validator), and snapshots are taken at every
	// scrape and status line; at 1,000 validators computing it each time
	// was 2-3% of a node's CPU.
	genesis := n.Genesis().Hash().String()
	return nodeView{
		snapshot: func() snapshot {
			st := n.Status()
			var exclude []peer.ID
			if b := n.BuilderID(); b != "" {
				exclude = append(exclude, b)
			}
			total, vals := net.PeerCounts(exclude...)
			return snapshot{
				Name: name, Version: buildinfo.Version(),
				PeerID: net.ID().String(), Genesis: genesis,
				Best: st.Best, Leaves: st.Leaves, Held: st.Held,
				PeersTotal: total, ValidatorPeers: vals,
				Unreachable:  len(net.UnreachableBootnodes()),
				ForeignPeers: len(net.ForeignPeers()),
			}
		},
		peers: net.Peers,
	}
}

// blockJSON is a block in the endpoints' JSON.
type blockJSON struct {
	Number uint32     `json:"number"`
	Hash   types.Hash `json:"hash"`
}

func blocksJSON(bs []testnet.BlockRef) []blockJSON {
	out := make([]blockJSON, len(bs))
	for i, b := range bs {
		out[i] = blockJSON{Number: b.Number, Hash: b.Hash}
	}
	return out
}

type healthJSON struct {
	Status         string    `json:"status"` // "ok" or "unhealthy"
	Reasons        []string  `json:"reasons"`
	Name           string    `json:"name"`
	Version        string    `json:"version"`
	PeerID         string    `json:"peer_id"`
	Genesis        string    `json:"genesis"`
	Best           blockJSON `json:"best"`
	ActiveLeaves   int       `json:"active_leaves"`
	Peers          int       `json:"peers"`
	ValidatorPeers int       `json:"validator_peers"`
}

// health: ok (200) with at least one peer and one active leaf, as a load
// balancer or an orchestrator's probe needs a node that can both hear
// gossip and answer a block builder; unhealthy (503) otherwise.
func health(s snapshot) (int, healthJSON) {
	h := healthJSON{
		Status: "ok", Reasons: []string{}, Name: s.Name, Version: s.Version, PeerID: s.PeerID,
		Genesis: s.Genesis, Best: blockJSON{Number: s.Best.Number, Hash: s.Best.Hash},
		ActiveLeaves: len(s.Leaves), Peers: s.PeersTotal, ValidatorPeers: s.ValidatorPeers,
	}
	if s.PeersTotal == 0 {
		h.Reasons = append(h.Reasons, "no peers")
	}
	if len(s.Leaves) == 0 {
		h.Reasons = append(h.Reasons, "no active leaf")
	}
	if len(h.Reasons) > 0 {
		h.Status = "unhealthy"
		return http.StatusServiceUnavailable, h
	}
	return http.StatusOK, h
}

type validatorJSON struct {
	Index   uint32 `json:"index"`
	Session uint32 `json:"session"`
}

type peerJSON struct {
	PeerID      string         `json:"peer_id"`
	Addresses   []string       `json:"addresses"`
	Score       *float64       `json:"score"` // null before the first score inspection
	Topics      []string       `json:"topics"`
	IsValidator bool           `json:"is_validator"`
	Validator   *validatorJSON `json:"validator"` // the first record verified (the lowest index for an honest peer)
	// Validators are every validator the peer's records prove (a node
	// hosting virtual validators proves each of its indices), by index.
	Validators []validatorJSON `json:"validators"`
}

func peersJSON(ps []p2p.PeerInfo) []peerJSON {
	out := make([]peerJSON, 0, len(ps))
	for _, p := range ps {
		j := peerJSON{PeerID: p.ID.String(), Addresses: p.Addrs, Topics: p.Topics, Validators: []validatorJSON{}}
		if j.Addresses == nil {
			j.Addresses = []string{}
		}
		if j.Topics == nil {
			j.Topics = []string{}
		}
		if p.HasScore {
			score := p.Score
			j.Score = &score
		}
		if p.Validator != nil {
			j.IsValidator = true
			j.Validator = &validatorJSON{Index: uint32(p.Validator.Index), Session: uint32(p.Validator.Session)}
		}
		for _, v := range p.Validators {
			j.Validators = append(j.Validators, validatorJSON{Index: uint32(v.Index), Session: uint32(v.Session)})
		}
		out = append(out, j)
	}
	return out
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v) // the client may be gone; nothing to do about it
}

// newHTTPHandler serves /metrics, /health, /peers, /leaves and, with
// withPprof, /debug/pprof/. Every other path is 404: the address may be
// reachable from outside (--prometheus-external), so nothing is served by
// accident.
func newHTTPHandler(g prometheus.Gatherer, v nodeView, withPprof bool) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(g, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /health", func(w http.ResponseWriter, _ *http.Request) {
		code, h := health(v.snapshot())
		writeJSON(w, code, h)
	})
	mux.HandleFunc("GET /peers", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, peersJSON(v.peers()))
	})
	mux.HandleFunc("GET /leaves", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, blocksJSON(v.snapshot().Leaves))
	})
	if withPprof {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	return mux
}
