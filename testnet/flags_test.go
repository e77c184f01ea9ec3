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
