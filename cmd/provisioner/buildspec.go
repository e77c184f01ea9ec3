package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/polkadot-provisioner/provisioner/testnet"
)

const buildSpecUsage = `Usage: provisioner build-spec --out FILE [flags]

Writes a testnet chain spec (the genesis every node of one network loads
with --chain) and prints its genesis hash, the network's name: topics and
protocols carry it, and blockbuilder --genesis takes it. As polkadot's
build-spec, but for this project's simulated relay chain: validators are
the development keys //Alice, //Bob, ... //Validator<N>.

Slot 0 starts --start-in after now, so start every node before then; a node
started later joins at the current slot.

Flags:
  --out FILE       where to write the spec (required; its directory is created)
  --validators N   number of validators (default 2, at least 2)
  --paras N        number of parachains, ids from 2000 (default 2)
  --cores N        availability cores (default: one per para)
  --slot DUR       slot length (default 6s, Polkadot's; at least 500ms)
  --start-in DUR   time from now to slot 0 (default 30s)
  --seed N         seed of the slot lottery (0: round-robin authors)
  --force          overwrite an existing FILE
` + exitStatusText

func runBuildSpec(e *env, args []string) error {
	fs := flag.NewFlagSet("build-spec", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	out := fs.String("out", "", "")
	validators := fs.Int("validators", 2, "")
	paras := fs.Int("paras", 2, "")
	cores := fs.Int("cores", 0, "")
	slot := fs.Duration("slot", 6*time.Second, "")
	startIn := fs.Duration("start-in", 30*time.Second, "")
	seed := fs.Uint64("seed", 0, "")
	force := fs.Bool("force", false, "")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return errHelp
		}
		return usagef("%v", err)
	}
	switch {
	case fs.NArg() > 0:
		return usagef("unexpected argument %q", fs.Arg(0))
	case *out == "":
		return usagef("--out FILE is required")
	case *validators < testnet.MinNodes:
		return usagef("--validators must be at least %d", testnet.MinNodes)
	case *paras < 1:
		return usagef("--paras must be at least 1")
	case *cores < 0:
		return usagef("--cores must not be negative")
	case *slot < testnet.MinSlot:
		return usagef("--slot must be at least %s", testnet.MinSlot)
	case *startIn < 0:
		return usagef("--start-in must not be negative")
	}
	if *cores == 0 {
		*cores = *paras
	}
	if _, err := os.Stat(*out); err == nil && !*force {
		return fmt.Errorf("%s exists (pass --force to overwrite it)", *out)
	}
	g, err := testnet.NewGenesis(*validators, *cores, *paras, slot.Milliseconds(), time.Now().Add(*startIn).UnixMilli(), *seed)
	if err != nil {
		return err
	}
	if dir := filepath.Dir(*out); dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("create %s: %w", dir, err)
		}
	}
	if err := g.Save(*out); err != nil {
		return fmt.Errorf("write %s: %w", *out, err)
	}
	fmt.Fprintln(e.stdout, g.Hash())
	fmt.Fprintf(e.stderr, "chain spec written to %s: %d validators, %d paras on %d cores, slot %s, slot 0 at %s\n",
		*out, *validators, *paras, *cores, *slot, time.UnixMilli(g.GenesisUnixMillis).UTC().Format(time.RFC3339))
	return nil
}
