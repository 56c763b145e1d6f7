//go:build unix && !linux

package pglocal

import "syscall"

func setPdeathsig(*syscall.SysProcAttr) {}

const hasPdeathsig = false
