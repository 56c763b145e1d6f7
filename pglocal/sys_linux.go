package pglocal

import "syscall"

// setPdeathsig asks the kernel to send the postmaster SIGINT (fast shutdown)
// when the thread that started it dies. Start keeps that thread locked for
// the server's lifetime, so in practice this fires when our process dies.
func setPdeathsig(attr *syscall.SysProcAttr) { attr.Pdeathsig = syscall.SIGINT }

const hasPdeathsig = true
