package pgtest

import "syscall"

// ramDir returns /dev/shm if it is a tmpfs with at least 1 GiB available.
// Creating files is far cheaper there than on many CI disks (CREATE DATABASE
// creates hundreds of files): clones measured ~10x faster.
func ramDir() string {
	const tmpfsMagic = 0x01021994
	var st syscall.Statfs_t
	if err := syscall.Statfs("/dev/shm", &st); err != nil {
		return ""
	}
	if st.Type != tmpfsMagic || uint64(st.Bavail)*uint64(st.Bsize) < 1<<30 {
		return ""
	}
	if err := syscall.Access("/dev/shm", 0x2 /* W_OK */); err != nil {
		return ""
	}
	return "/dev/shm"
}
