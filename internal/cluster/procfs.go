package cluster

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// PeakRSS reads VmHWM (the peak resident set) of a process from /proc, in KiB.
func PeakRSS(pid int) (int64, error) { return statusKiB(pid, "VmHWM:") }

// RSS reads VmRSS (the resident set now) of a process from /proc, in KiB.
func RSS(pid int) (int64, error) { return statusKiB(pid, "VmRSS:") }

// statusKiB reads the field named key (with its colon) of
// /proc/<pid>/status, in KiB.
func statusKiB(pid int, key string) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, key); ok {
			f := strings.Fields(v)
			if len(f) >= 1 {
				return strconv.ParseInt(f[0], 10, 64)
			}
		}
	}
	return 0, fmt.Errorf("cluster: no %s in /proc/%d/status", key, pid)
}

// CPUTime reads the user plus system CPU time a process has used so far from
// /proc/<pid>/stat.
func CPUTime(pid int) (time.Duration, error) {
	f, err := statFields(pid, 13)
	if err != nil {
		return 0, err
	}
	// f[0] is field 3 (state); utime and stime are fields 14 and 15.
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, fmt.Errorf("cluster: /proc/%d/stat: %w", pid, err)
	}
	const hz = 100 // USER_HZ on Linux
	return time.Duration(ut+st) * time.Second / hz, nil
}

// WriteBytes reads how many bytes a process has caused to be written to
// storage so far (write_bytes of /proc/<pid>/io: what reaches the block
// device, the figure that wears an SD card; page-cache writes that are
// later overwritten before writeback are not counted, fsynced ones are).
func WriteBytes(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/io", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "write_bytes:"); ok {
			return strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		}
	}
	return 0, fmt.Errorf("cluster: no write_bytes in /proc/%d/io", pid)
}

// Age is how long a process has been running, from its start time in
// /proc/<pid>/stat (field 22, clock ticks after boot) and /proc/uptime.
func Age(pid int) (time.Duration, error) {
	f, err := statFields(pid, 20)
	if err != nil {
		return 0, err
	}
	start, err := strconv.ParseInt(f[19], 10, 64) // field 22
	if err != nil {
		return 0, fmt.Errorf("cluster: /proc/%d/stat: %w", pid, err)
	}
	up, err := os.ReadFile("/proc/uptime")
	if err != nil {
		return 0, err
	}
	secs, err := strconv.ParseFloat(strings.Fields(string(up))[0], 64)
	if err != nil {
		return 0, fmt.Errorf("cluster: /proc/uptime: %w", err)
	}
	const hz = 100 // USER_HZ on Linux
	return time.Duration(secs*float64(time.Second)) - time.Duration(start)*time.Second/hz, nil
}

// statFields returns the fields of /proc/<pid>/stat from field 3 (state) on,
// at least min of them. The command name (field 2) may hold spaces and
// parentheses; the fields after its last ')' are plain.
func statFields(pid, min int) ([]string, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return nil, err
	}
	s := string(b)
	j := strings.LastIndexByte(s, ')')
	if j < 0 {
		return nil, fmt.Errorf("cluster: /proc/%d/stat: no command name", pid)
	}
	f := strings.Fields(s[j+1:])
	if len(f) < min {
		return nil, fmt.Errorf("cluster: /proc/%d/stat: %d fields", pid, len(f))
	}
	return f, nil
}
