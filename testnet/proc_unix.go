//go:build unix && !linux

package testnet

import (
	"os"
	"syscall"
)

// nodeProcAttr puts a node process in its own process group, so that the
// terminal's Ctrl-C reaches only the testnet, which then gathers the
// nodes' metrics before it stops them.
func nodeProcAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }

func pauseProcess(p *os.Process) error  { return p.Signal(syscall.SIGSTOP) }
func resumeProcess(p *os.Process) error { return p.Signal(syscall.SIGCONT) }
