package meter

import (
	"bufio"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/gridmesh/gridmesh/unit"
)

const crashEnv = "GRIDMESH_METER_CRASH_DIR"

// TestCrashChild is the child process of TestSIGKILL: it appends readings to
// the journal as fast as it can until it is killed.
func TestCrashChild(t *testing.T) {
	dir := os.Getenv(crashEnv)
	if dir == "" {
		t.Skip("only runs as the child of TestSIGKILL, which sets its GRIDMESH_ environment variable")
	}
	j, err := OpenJournal(dir)
	if err != nil {
		t.Fatal(err)
	}
	last, ok := j.Last()
	if !ok {
		last = Reading{Time: t0}
	}
	for i := 0; ; i++ {
		last.Time = last.Time.Add(time.Second)
		last.Import += unit.Wh(i % 3)
		last.Export += unit.Wh(i % 2)
		last.Serial = "crash"
		if err := j.Append(last); err != nil {
			t.Fatal(err)
		}
		if i == 200 {
			os.Stdout.WriteString("appending\n")
		}
	}
}

// TestSIGKILL kills a process in the middle of appending, three times, and
// checks that the journal verifies from end to end and keeps growing.
func TestSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("skipped with -short: spawns processes")
	}
	dir := t.TempDir()
	var prev uint64
	for round := range 3 {
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), crashEnv+"="+dir)
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(out)
		started := false
		for sc.Scan() {
			if strings.Contains(sc.Text(), "appending") {
				started = true
				break
			}
		}
		if !started {
			cmd.Wait()
			t.Fatalf("round %d: child never started appending", round)
		}
		time.Sleep(time.Duration(50+round*70) * time.Millisecond)
		if err := cmd.Process.Kill(); err != nil { // SIGKILL
			t.Fatal(err)
		}
		cmd.Wait()

		j, err := OpenJournal(dir)
		if err != nil {
			t.Fatalf("round %d: reopen after SIGKILL: %v", round, err)
		}
		if err := j.Verify(); err != nil {
			t.Errorf("round %d: Verify after SIGKILL: %v", round, err)
		}
		n := j.Len()
		if n <= prev {
			t.Errorf("round %d: journal has %d entries, not more than %d before", round, n, prev)
		}
		t.Logf("round %d: %d entries, %d repaired", round, n, j.Repaired())
		prev = n
		if err := j.Close(); err != nil {
			t.Fatal(err)
		}
	}
}
