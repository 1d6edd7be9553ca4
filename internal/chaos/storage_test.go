package chaos

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"switchboard/internal/client"
	"switchboard/internal/proctest"
	"switchboard/internal/wire"
)

// disk is a small ext4 file system in an image file, loop-mounted with
// errors=remount-ro, as a real disk that fails would be.
type disk struct {
	t        *testing.T
	img, dir string
}

// mountDisk makes and mounts a disk of size bytes. It needs root (the
// suite runs as root); without it the test fails, saying so, rather than
// skipping a scenario nobody would then notice was never run.
func mountDisk(t *testing.T, size int64) *disk {
	t.Helper()
	d := &disk{t: t, img: filepath.Join(t.TempDir(), "disk.img"), dir: t.TempDir()}
	f, err := os.Create(d.img)
	if err == nil {
		err = errors.Join(f.Truncate(size), f.Close())
	}
	if err != nil {
		t.Fatal(err)
	}
	d.run("mkfs.ext4", "-q", "-F", "-m", "0", d.img) // -m 0: no blocks held back for root
	d.mount()
	t.Cleanup(d.unmount)
	return d
}

func (d *disk) mount() {
	d.t.Helper()
	d.run("mount", "-o", "loop,errors=remount-ro", d.img, d.dir)
}

func (d *disk) unmount() {
	for range 50 {
		if exec.Command("umount", d.dir).Run() == nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	d.t.Errorf("cannot unmount %s", d.dir)
	_ = exec.Command("umount", "-l", d.dir).Run()
}

func (d *disk) run(name string, args ...string) {
	d.t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		d.t.Fatalf("%s %s: %v: %s\n(this scenario mounts a loop-device file system, so it must run as root with mount, mkfs.ext4 and e2fsck available)",
			name, strings.Join(args, " "), err, out)
	}
}

// fill writes a file until the disk is full and returns its path.
func (d *disk) fill() string {
	d.t.Helper()
	path := filepath.Join(d.dir, "filler")
	f, err := os.Create(path)
	if err != nil {
		d.t.Fatal(err)
	}
	defer f.Close()
	block := make([]byte, 1<<20)
	for len(block) > 0 {
		if _, err := f.Write(block); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				d.t.Fatalf("fill the disk: %v", err)
			}
			block = block[:len(block)/2]
		}
	}
	return path
}

// sync writes the file system's dirty pages to the disk image.
func (d *disk) sync() {
	d.t.Helper()
	f, err := os.Open(d.dir)
	if err != nil {
		d.t.Fatal(err)
	}
	defer f.Close()
	if err := unix.Syncfs(int(f.Fd())); err != nil {
		d.t.Fatalf("syncfs %s: %v", d.dir, err)
	}
}

// failReadOnly makes the file system fail as a dying disk does: ext4
// notes an error and, with errors=remount-ro, turns read-only at once
// under every open file. Only an unmount, a check and a new mount undo it.
func (d *disk) failReadOnly() {
	d.t.Helper()
	out, err := exec.Command("findmnt", "-n", "-o", "SOURCE", d.dir).Output()
	if err != nil {
		d.t.Fatalf("findmnt %s: %v", d.dir, err)
	}
	dev := filepath.Base(strings.TrimSpace(string(out)))
	if err := os.WriteFile("/sys/fs/ext4/"+dev+"/trigger_fs_error", []byte("1"), 0); err != nil {
		d.t.Fatalf("make %s fail: %v", d.dir, err)
	}
	if err := os.WriteFile(filepath.Join(d.dir, "probe"), nil, 0o644); !errors.Is(err, syscall.EROFS) {
		d.t.Fatalf("%s is not read-only after the error: %v", d.dir, err)
	}
}

// repair is what an operator does after that: unmount, check, mount.
func (d *disk) repair() {
	d.t.Helper()
	d.run("umount", d.dir)
	// e2fsck exits 1 when it fixed something, as it does here: it clears
	// the error the failure recorded.
	if out, err := exec.Command("e2fsck", "-f", "-y", d.img).CombinedOutput(); err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() > 1 {
			d.t.Fatalf("e2fsck: %v: %s", err, out)
		}
	}
	d.mount()
}

// TestStorageFaults is scenario 5. The relay's database sits on a small
// disk. First the disk fills up while a command streams: streaming must go
// on, the relay must say clearly what is wrong, and once space returns the
// store must catch up with everything. Then the disk turns read-only under
// the running relay: again streaming goes on and the relay must say why
// storage fails; the operator stops the relay, repairs the disk and starts
// the relay again, and the agent's held output must fill every gap. No
// command that ran may lose a byte, even one requested during an outage,
// and the database must check clean at the end.
func TestStorageFaults(t *testing.T) {
	noLeaks(t)
	disk := mountDisk(t, 32<<20)
	addr, db := proctest.FreeAddr(t), filepath.Join(disk.dir, "sb.db")
	relay := startRelay(t, addr, db)
	idle := relay.idleUsage(t)
	ag := start(t, "agent", "--relay", relay.url(), "--name", "box", "--state-dir", t.TempDir(), "--log-level", "warn")
	dash := follow(t, relay.url(), client.Config{})
	waitFor(t, 30*time.Second, "agent online", func() bool { return dash.online("box") })
	pending := func() float64 { return relay.metric("switchboard_store_pending_bytes") }
	storeErrors := func() float64 { return relay.metric("switchboard_store_errors_total") }
	var checks []func(stored map[string][]byte)
	var ids []string
	// started runs a gated producer and waits until it runs and is stored.
	started := func(name string, chunks int) (wire.Command, producer) {
		p := newProducer(t, name)
		c := dash.run("box", p.gated(chunks, 32<<10, 10*time.Millisecond))
		dash.subscribe(c.ID)
		waitFor(t, 30*time.Second, name+" running and stored", func() bool {
			return dash.command(c.ID).State == wire.StateRunning && pending() == 0 && relay.metric("switchboard_store_batch_rows_count") > 0
		})
		time.Sleep(200 * time.Millisecond) // the commit that stored "running" has long finished
		ids = append(ids, c.ID)
		checks = append(checks, func(stored map[string][]byte) { p.check(t, "SQLite: "+name, stored[c.ID]) })
		return c, p
	}
	// streams lets a gated producer go and waits for all of it, live.
	streams := func(c wire.Command, p producer) wire.Command {
		if err := dash.cl.Input(c.ID, []byte("go\n")); err != nil {
			t.Fatal(err)
		}
		c = dash.waitEnd(c.ID, 60*time.Second)
		if c.State != wire.StateExited || c.OutputBytes != p.size(t) {
			t.Errorf("command %s with %d bytes; the program wrote %d", c.State, c.OutputBytes, p.size(t))
		}
		p.check(t, "live dashboard", dash.bytes(c.ID))
		return c
	}
	// During an outage a new command is requested too; whenever it runs,
	// none of its output may be lost.
	requested := func(name string) (wire.Command, producer) {
		p := newProducer(t, name)
		c := dash.run("box", p.spec(4, 16<<10, 10*time.Millisecond))
		dash.subscribe(c.ID)
		return c, p
	}

	// A full disk.
	c1, p1 := started("full", 64) // 2 MiB
	filler := disk.fill()
	c1 = streams(c1, p1)
	n1, pn1 := requested("during-full")
	waitFor(t, 10*time.Second, "store errors counted", func() bool { return storeErrors() > 0 && pending() > 0 })
	time.Sleep(time.Second)
	unstored, duringFull := pending(), dash.command(n1.ID).State
	logged := relay.LogText()
	fullErr := firstLine(logged, "store write failed")
	if !strings.Contains(fullErr, "disk is full") {
		t.Errorf("the relay's log does not say the disk is full: %s", proctest.Tail(logged, 3000))
	}
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	freed := time.Now()
	waitFor(t, 60*time.Second, "storage to catch up", func() bool { return pending() == 0 })
	caughtUp := time.Since(freed)
	n1 = dash.waitEnd(n1.ID, 60*time.Second)
	pn1.check(t, "dashboard: command requested while the disk was full", dash.bytes(n1.ID))
	ids = append(ids, n1.ID)
	checks = append(checks, func(stored map[string][]byte) { pn1.check(t, "SQLite: during-full", stored[n1.ID]) })
	late := followStrict(t, relay.url(), c1.ID) // reads the head from the store
	waitFor(t, 30*time.Second, "a late dashboard to read it all", func() bool { return late.hasEnded(c1.ID) })
	p1.check(t, "late dashboard, after space returned", late.bytes(c1.ID))
	result(t, "disk full: %d bytes streamed live; %v store errors, logged as %q; %.0f KiB waited in memory; all stored %.2fs after space returned; a command requested meanwhile was %s during the outage and ended %s",
		c1.OutputBytes, storeErrors(), fullErr, unstored/1024, caughtUp.Seconds(), duringFull, n1.State)

	// A disk that turns read-only.
	c2, p2 := started("readonly", 32) // 1 MiB
	errsBefore, logBefore := storeErrors(), len(relay.LogText())
	disk.sync() // see docs/reliability.md: unsynced commits die with the file system
	disk.failReadOnly()
	c2 = streams(c2, p2)
	n2, pn2 := requested("during-readonly")
	waitFor(t, 10*time.Second, "store errors counted", func() bool { return storeErrors() > errsBefore })
	time.Sleep(time.Second)
	duringRO := dash.command(n2.ID)
	roErr := firstLine(relay.LogText()[logBefore:], "store write failed")
	if !strings.Contains(roErr, "read-only") {
		t.Errorf("the relay's log does not say the disk is read-only: %s", roErr)
	}
	reconnects := dash.reconnected()
	relay.Stop(syscall.SIGTERM) // its last flush fails too; the agent still holds the output
	disk.repair()
	relay = startRelay(t, addr, db)
	restarted := time.Now()
	waitFor(t, 30*time.Second, "agent and dashboard back", func() bool {
		return dash.reconnected() > reconnects && relay.metric("switchboard_agents_online") == 1 && dash.online("box")
	})
	waitFor(t, 60*time.Second, "storage to catch up", func() bool {
		return pending() == 0 && dash.command(c2.ID).State == wire.StateExited
	})
	recovered := time.Since(restarted)
	if duringRO.State != wire.StateQueued {
		// It ran during the outage: its output must have survived the restart.
		n2 = dash.waitEnd(n2.ID, 60*time.Second)
		ids = append(ids, n2.ID)
		checks = append(checks, func(stored map[string][]byte) {
			pn2.check(t, "SQLite: command that ran while the disk was read-only", stored[n2.ID])
		})
	}
	result(t, "read-only disk: %d bytes streamed live; logged as %q; after repair and restart, stored %.2fs later from the agent's held output; a command requested meanwhile was %s during the outage",
		c2.OutputBytes, roErr, recovered.Seconds(), duringRO.State)

	dash.close()
	late.close()
	ag.Stop(syscall.SIGTERM)
	relay.checkNoLeaks(t, idle)
	relay.Stop(syscall.SIGTERM)
	integrity(t, db)

	// A relay started on a read-only file refuses to start, saying why.
	disk.run("mount", "-o", "remount,ro", disk.dir)
	refused := start(t, "relay", "--addr", addr, "--db", db, "--insecure-no-auth")
	if !refused.Exits(30 * time.Second) {
		t.Fatal("a relay on a read-only database did not exit")
	}
	why := strings.TrimSpace(refused.LogText())
	if refused.ExitCode() == 0 || !strings.Contains(why, "read-only file system") {
		t.Errorf("relay on a read-only database: exit code %d, %q", refused.ExitCode(), why)
	}
	result(t, "relay started on a read-only database exits: %q", why)
	disk.run("mount", "-o", "remount,rw", disk.dir)
	stored := storedOutput(t, db, ids...)
	for _, check := range checks {
		check(stored)
	}
}

// firstLine returns the first line of log that contains s, or "".
func firstLine(log, s string) string {
	for line := range strings.Lines(log) {
		if strings.Contains(line, s) {
			return strings.TrimSpace(line)
		}
	}
	return ""
}
