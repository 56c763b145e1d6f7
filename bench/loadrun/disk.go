package main

import (
	"bufio"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// diskSample is the block devices' cumulative counters from /proc/diskstats
// and the page cache's dirty and writeback pages from /proc/vmstat: two file
// reads, so sampling them beside a measurement does not disturb it the way
// a psql loop does.
type diskSample struct {
	at                      time.Time
	writes, sectorsWritten  uint64
	writeMs                 uint64
	flushes, flushMs        uint64
	dirtyPages, writebackPg uint64
	ok                      bool
}

// wholeDisk matches whole virtio, SCSI and NVMe disks, not their partitions.
var wholeDisk = regexp.MustCompile(`^(?:(?:x?vd|sd)[a-z]+|nvme\d+n\d+)$`)

func sampleDisk() diskSample {
	s := diskSample{at: time.Now()}
	if f, err := os.Open("/proc/diskstats"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			x := strings.Fields(sc.Text())
			if len(x) < 14 || !wholeDisk.MatchString(x[2]) {
				continue
			}
			n := func(i int) uint64 {
				if i >= len(x) {
					return 0
				}
				v, _ := strconv.ParseUint(x[i], 10, 64)
				return v
			}
			// Counting from 0 at the major number: 7 writes completed,
			// 9 sectors written, 10 ms writing; since Linux 5.5, 18
			// flushes completed and 19 ms flushing.
			s.writes += n(7)
			s.sectorsWritten += n(9)
			s.writeMs += n(10)
			s.flushes += n(18)
			s.flushMs += n(19)
			s.ok = true
		}
		f.Close()
	}
	if f, err := os.Open("/proc/vmstat"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			k, v, _ := strings.Cut(sc.Text(), " ")
			switch k {
			case "nr_dirty":
				s.dirtyPages, _ = strconv.ParseUint(v, 10, 64)
			case "nr_writeback":
				s.writebackPg, _ = strconv.ParseUint(v, 10, 64)
			}
		}
		f.Close()
	}
	return s
}

// diskDelta describes what the disks did between two samples: MB written
// per second, the mean time of a write and of a flush (an fsync reaching
// the device), and the page cache's dirty memory at the end.
func diskDelta(a, b diskSample) string {
	if !a.ok || !b.ok {
		return "disk: n/a"
	}
	secs := b.at.Sub(a.at).Seconds()
	w := b.writes - a.writes
	fl := b.flushes - a.flushes
	mean := func(ms, n uint64) string {
		if n == 0 {
			return "–"
		}
		return fmt.Sprintf("%.2f ms", float64(ms)/float64(n))
	}
	return fmt.Sprintf("disk: %.1f MB/s written, write %s, %.0f flushes/s at %s, dirty %d MB",
		float64(b.sectorsWritten-a.sectorsWritten)*512/1e6/secs, mean(b.writeMs-a.writeMs, w),
		float64(fl)/secs, mean(b.flushMs-a.flushMs, fl), b.dirtyPages*4096/1e6)
}
