//go:build !unix

package pglocal

import (
	"errors"
	"io/fs"
	"os"
	"syscall"
)

var errUnsupported = errors.New("pglocal: unsupported operating system")

type account struct{ name string }

func serverAccount() (*account, error)             { return nil, errUnsupported }
func procAttr(*account, bool) *syscall.SysProcAttr { return nil }
func (a *account) chown(string) error              { return nil }
func (a *account) chownTree(string) error          { return nil }
func (a *account) owns(fs.FileInfo) bool           { return true }
func (a *account) checkReachable(string) error     { return nil }
func fileUID(fs.FileInfo) int                      { return -1 }
func lockFile(*os.File) error                      { return nil }
func unlockFile(*os.File) error                    { return nil }
func processAlive(int) bool                        { return true }
func signalProcess(p *os.Process, _ string) error  { return p.Kill() }

const hasPdeathsig = false
