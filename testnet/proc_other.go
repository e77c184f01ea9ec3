//go:build !unix

package testnet

import (
	"errors"
	"os"
	"syscall"
)

var errNoPause = errors.New("pausing a process needs SIGSTOP, which this platform lacks")

func nodeProcAttr() *syscall.SysProcAttr { return nil }

func pauseProcess(*os.Process) error  { return errNoPause }
func resumeProcess(*os.Process) error { return errNoPause }
