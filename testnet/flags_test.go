package testnet

import (
	"errors"
	"testing"
	"time"
)

func TestParsePause(t *testing.T) {
	cases := []struct {
		in   string
		want Pause
		err  string
	}{
		{"3@5", Pause{Node: 3, At: 5}, ""},
		{"0@1,resume@9", Pause{Node: 0, At: 1, ResumeAt: 9}, ""},
		{"3@5,resume@5", Pause{}, `--pause "3@5,resume@5": resume must be resume@BLOCK after the pause`},
		{"3@5,restart@9", Pause{}, `--pause "3@5,restart@9": resume must be resume@BLOCK after the pause`},
		{"x@5", Pause{}, `--pause "x@5": want NODE@BLOCK[,resume@BLOCK]`},
		{"3", Pause{}, `--pause "3": want NODE@BLOCK[,resume@BLOCK]`},
		{"3@0", Pause{}, `--pause "3@0": want NODE@BLOCK[,resume@BLOCK]`},
		{"-1@2", Pause{}, `--pause "-1@2": want NODE@BLOCK[,resume@BLOCK]`},
	}
	for _, c := range cases {
		got, err := ParsePause(c.in)
		if c.err == "" {
			if err != nil || got != c.want {
				t.Errorf("ParsePause(%q) = %+v, %v; want %+v", c.in, got, err, c.want)
			}
			continue
		}
		if err == nil || err.Error() != c.err || !errors.Is(err, ErrUsage) {
			t.Errorf("ParsePause(%q) err = %v, want %q (ErrUsage)", c.in, err, c.err)
		}
	}
}

func TestValidate(t *testing.T) {
	ok := Config{Nodes: 4, Paras: 2, Blocks: 10, Slot: time.Second}
	cases := []struct {
		name string
		edit func(*Config)
		err  string
	}{
		{"valid", func(*Config) {}, ""},
		{"until ctrl-c", func(c *Config) { c.Blocks = 0; c.Kills = []Kill{{Node: 1, At: 50}} }, ""},
		{"minimum slot", func(c *Config) { c.Slot = MinSlot }, ""},
		{"one node", func(c *Config) { c.Nodes = 1 }, "--nodes must be at least 2"},
		{"no para", func(c *Config) { c.Paras = 0 }, "--paras must be at least 1"},
		{"negative blocks", func(c *Config) { c.Blocks = -1 }, "--blocks must be 0 (run until Ctrl-C) or more"},
		{"short slot", func(c *Config) { c.Slot = 200 * time.Millisecond }, "--slot 200ms is too short: the minimum is 500ms"},
		{"all adversaries", func(c *Config) { c.Adversaries = 4 }, "--adversaries 4 leaves no honest node of 4"},
		{"kill no node", func(c *Config) { c.Kills = []Kill{{Node: 4, At: 2}} }, "--kill 4@2: no node 4 (nodes are 0..3)"},
		{"kill beyond blocks", func(c *Config) { c.Kills = []Kill{{Node: 1, At: 11}} }, "--kill 1@11: block 11 is beyond --blocks 10"},
		{"restart beyond blocks", func(c *Config) { c.Kills = []Kill{{Node: 1, At: 3, RestartAt: 12}} },
			"--kill 1@3,restart@12: block 12 is beyond --blocks 10"},
		{"pause in process", func(c *Config) { c.InProcess = true; c.Pauses = []Pause{{Node: 1, At: 2}} },
			"--pause needs node processes (SIGSTOP): it cannot be used with --in-process"},
		{"pause no node", func(c *Config) { c.Pauses = []Pause{{Node: 9, At: 2}} }, "--pause 9@2: no node 9 (nodes are 0..3)"},
		{"pause beyond blocks", func(c *Config) { c.Pauses = []Pause{{Node: 1, At: 20}} }, "--pause 1@20: block 20 is beyond --blocks 10"},
		{"resume beyond blocks", func(c *Config) { c.Pauses = []Pause{{Node: 1, At: 2, ResumeAt: 11}} },
			"--pause 1@2,resume@11: block 11 is beyond --blocks 10"},
	}
	for _, c := range cases {
		cfg := ok
		c.edit(&cfg)
		err := cfg.Validate()
		if c.err == "" {
			if err != nil {
				t.Errorf("%s: %v", c.name, err)
			}
			continue
		}
		if err == nil || err.Error() != c.err || !errors.Is(err, ErrUsage) {
			t.Errorf("%s: err = %v, want %q (ErrUsage)", c.name, err, c.err)
		}
	}
}

func TestParseParaAtAndNodeAt(t *testing.T) {
	paraCases := []struct {
		in   string
		want ParaAt
		err  string
	}{
		{"2001@8", ParaAt{Para: 2001, Block: 8}, ""},
		{"2001@0", ParaAt{}, `--invalid-candidate "2001@0": want PARA@BLOCK (e.g. 2001@8)`},
		{"2001", ParaAt{}, `--invalid-candidate "2001": want PARA@BLOCK (e.g. 2001@8)`},
		{"x@3", ParaAt{}, `--invalid-candidate "x@3": want PARA@BLOCK (e.g. 2001@8)`},
	}
	for _, c := range paraCases {
		got, err := ParseParaAt("invalid-candidate", c.in)
		if c.err == "" {
			if err != nil || got != c.want {
				t.Errorf("ParseParaAt(%q) = %+v, %v; want %+v", c.in, got, err, c.want)
			}
			continue
		}
		if err == nil || err.Error() != c.err || !errors.Is(err, ErrUsage) {
			t.Errorf("ParseParaAt(%q) err = %v, want %q (ErrUsage)", c.in, err, c.err)
		}
	}
	nodeCases := []struct {
		in   string
		want NodeAt
		ok   bool
	}{
		{"6@1", NodeAt{Node: 6, Block: 1}, true},
		{"-1@1", NodeAt{}, false},
		{"6@", NodeAt{}, false},
	}
	for _, c := range nodeCases {
		got, err := ParseNodeAt("equivocate", c.in)
		if (err == nil) != c.ok || got != c.want || (err != nil && !errors.Is(err, ErrUsage)) {
			t.Errorf("ParseNodeAt(%q) = %+v, %v", c.in, got, err)
		}
	}
}

func TestValidateRuntime(t *testing.T) {
	base := Config{Nodes: 7, Paras: 2, Blocks: 20, Slot: time.Second}
	cases := []struct {
		name string
		mod  func(*Config)
		err  string
	}{
		{"defaults", func(*Config) {}, ""},
		{"one session", func(c *Config) { c.SessionLength = -1 }, ""},
		{"bitfields on import", func(c *Config) { c.BitfieldDelay = -1 }, ""},
		{"bitfield delay", func(c *Config) { c.BitfieldDelay = 900 * time.Millisecond }, ""},
		{"bitfield delay of a slot", func(c *Config) { c.BitfieldDelay = time.Second },
			"--bitfield-delay 1s must be shorter than the slot (1s)"},
		{"lookahead too deep", func(c *Config) { c.Lookahead = 65 }, "--lookahead 65: want 1..64"},
		{"session not above lookahead", func(c *Config) { c.SessionLength, c.Lookahead = 3, 3 },
			"--session-length 3 must be above --lookahead 3 (or 0: one session)"},
		{"rotation", func(c *Config) { c.GroupRotation = -1 }, "--group-rotation -1: want at least 1 block"},
		{"invalid candidate", func(c *Config) { c.InvalidCandidates = []ParaAt{{Para: 2001, Block: 8}} }, ""},
		{"invalid candidate, too few nodes", func(c *Config) {
			c.Nodes, c.InvalidCandidates = 6, []ParaAt{{Para: 2001, Block: 8}}
		}, "--invalid-candidate needs at least 7 nodes: the honest ones must outvote its 2 backers"},
		{"invalid candidate, unknown para", func(c *Config) { c.InvalidCandidates = []ParaAt{{Para: 2002, Block: 8}} },
			"--invalid-candidate 2002@8: no para 2002 (paras are 2000..2001)"},
		{"invalid candidate beyond blocks", func(c *Config) { c.InvalidCandidates = []ParaAt{{Para: 2000, Block: 21}} },
			"--invalid-candidate 2000@21: block 21 is beyond --blocks 20"},
		{"equivocate without a dispute", func(c *Config) { c.Equivocations = []NodeAt{{Node: 1, Block: 1}} },
			"--equivocate needs an --invalid-candidate to vote on"},
		{"equivocate unknown node", func(c *Config) {
			c.InvalidCandidates, c.Equivocations = []ParaAt{{Para: 2000, Block: 3}}, []NodeAt{{Node: 7, Block: 1}}
		}, "--equivocate 7@1: no node 7 (nodes are 0..6)"},
	}
	for _, c := range cases {
		cfg := base
		c.mod(&cfg)
		err := cfg.Validate()
		if c.err == "" {
			if err != nil {
				t.Errorf("%s: %v", c.name, err)
			}
			continue
		}
		if err == nil || err.Error() != c.err || !errors.Is(err, ErrUsage) {
			t.Errorf("%s: err = %v, want %q", c.name, err, c.err)
		}
	}
}
