//go:build linux

package testnet

import (
	"os"
	"syscall"
)

// nodeProcAttr puts a node process in its own process group, so that the
// terminal's Ctrl-C reaches only the testnet, which then gathers the
// nodes' metrics before it stops them. The kernel kills the node if the
// testnet itself dies (kill -9): the signal follows the thread that
// started the node, and Go keeps its threads for the life of the process
// (it ends only threads locked with LockOSThread, which this package does
// not use).
func nodeProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

func pauseProcess(p *os.Process) error  { return p.Signal(syscall.SIGSTOP) }
func resumeProcess(p *os.Process) error { return p.Signal(syscall.SIGCONT) }
