package main

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"

	"golang.org/x/sys/unix"
)

// defaultMode is the mode of a capture (and its temporary file): it holds
// what only root may read (kernel addresses, packets of every netns).
const defaultMode fs.FileMode = 0o600

// groupMode is the default with --group: the group reads, nobody else.
const groupMode fs.FileMode = 0o640

// outputOptions say how the capture file is created.
type outputOptions struct {
	Mode  fs.FileMode // permission bits; 0 = defaultMode (groupMode with a Group)
	Group int         // group owner; -1 = the recorder's
	Force bool        // write through a symbolic link at the final name
	// Owner (-Z) owns every file of a rotated or flight recorder set:
	// those created before the privileges are dropped are given to it,
	// the later ones it creates itself.
	Owner *identity
}

func (o outputOptions) mode() fs.FileMode {
	switch {
	case o.Mode != 0:
		return o.Mode
	case o.Group >= 0:
		return groupMode
	}
	return defaultMode
}

// errBusy says that another recorder writes the capture at that name.
var errBusy = errors.New("another pwru-record is writing it")

// output is the capture being written. A regular file is first a
// temporary file beside the final name, created with O_EXCL and renamed
// into place by place once recording has started, so a recorder that
// fails to start leaves an existing file untouched and creates nothing.
// A FIFO or character device at the final name is written in place.
// Every capture file is locked (flock LOCK_EX) while its recorder runs.
type output struct {
	f      *os.File
	path   string   // final name
	tmp    string   // temporary name, "" when written in place
	dir    *os.File // the directory of path, for the rename's lock and fsync
	placed bool
}

// createOutput opens the output for the capture at path.
func createOutput(path string, o outputOptions) (*output, error) {
	fi, err := os.Lstat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return nil, fmt.Errorf("create capture: %w", err)
	case fi.Mode()&fs.ModeSymlink != 0:
		if !o.Force {
			return nil, fmt.Errorf("create capture: %s is a symbolic link: refusing to write through it (--force writes to its target)", path)
		}
		target, err := filepath.EvalSymlinks(path)
		if err != nil {
			return nil, fmt.Errorf("create capture: resolve %s: %w", path, err)
		}
		return createOutput(target, outputOptions{Mode: o.Mode, Group: o.Group})
	case fi.IsDir():
		return nil, fmt.Errorf("create capture: %s is a directory", path)
	case !fi.Mode().IsRegular():
		// A FIFO or a device: stream into it, as with -o -.
		f, err := os.OpenFile(path, os.O_WRONLY|unix.O_NOFOLLOW, 0)
		if err != nil {
			return nil, fmt.Errorf("create capture: %w", err)
		}
		return &output{f: f, path: path, placed: true}, nil
	default:
		if err := checkNotBusy(path); err != nil {
			return nil, err
		}
	}
	dir, err := os.Open(filepath.Dir(path))
	if err != nil {
		return nil, fmt.Errorf("create capture: %w", err)
	}
	out := &output{path: path, dir: dir}
	if out.f, out.tmp, err = createTemp(path, o); err != nil {
		dir.Close()
		return nil, err
	}
	return out, nil
}

// tempSuffix returns the random part of a temporary name (a variable so
// that tests can make two recorders pick the same name).
var tempSuffix = func() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// createTemp creates a new file beside path (O_EXCL: never one that
// exists, never through a symlink), with mode and group set whatever the
// umask, and locked.
func createTemp(path string, o outputOptions) (*os.File, string, error) {
	dir, base := filepath.Split(path)
	for range 16 {
		tmp := filepath.Join(dir, "."+base+"."+tempSuffix()+".tmp")
		f, err := os.OpenFile(tmp, os.O_CREATE|os.O_EXCL|os.O_WRONLY|unix.O_NOFOLLOW, 0o600)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		if err != nil {
			return nil, "", fmt.Errorf("create capture: %w", err)
		}
		if err := setupFile(f, o); err != nil {
			f.Close()
			os.Remove(tmp)
			return nil, "", err
		}
		return f, tmp, nil
	}
	return nil, "", fmt.Errorf("create capture: no free temporary name beside %s", path)
}

// setupFile sets the group, the mode and the lock of a new capture file.
func setupFile(f *os.File, o outputOptions) error {
	if o.Group >= 0 {
		if err := f.Chown(-1, o.Group); err != nil {
			return fmt.Errorf("create capture: --group: %w", err)
		}
	}
	if err := f.Chmod(o.mode()); err != nil {
		return fmt.Errorf("create capture: %w", err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		return fmt.Errorf("create capture: lock: %w", err)
	}
	return nil
}

// checkNotBusy fails when a running recorder holds the file at path.
func checkNotBusy(path string) error {
	f, err := os.OpenFile(path, os.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("create capture: %w", err)
	}
	defer f.Close()
	if err := unix.Flock(int(f.Fd()), unix.LOCK_SH|unix.LOCK_NB); err != nil {
		if errors.Is(err, unix.EWOULDBLOCK) {
			return fmt.Errorf("create capture %s: %w", path, errBusy)
		}
		return fmt.Errorf("create capture: lock %s: %w", path, err)
	}
	return nil
}

// place renames the temporary file to the final name. Recorders placing
// captures in one directory take turns (flock on the directory), so the
// check that no running recorder holds the final name and the rename are
// one step; the directory is synced so that the name survives a crash.
func (o *output) place() error {
	if o.placed {
		return nil
	}
	fd := int(o.dir.Fd())
	if err := unix.Flock(fd, unix.LOCK_EX); err != nil {
		return fmt.Errorf("place capture: lock %s: %w", o.dir.Name(), err)
	}
	defer unix.Flock(fd, unix.LOCK_UN)
	fi, err := os.Lstat(o.path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return fmt.Errorf("place capture: %w", err)
	case fi.Mode()&fs.ModeSymlink != 0:
		return fmt.Errorf("place capture: %s became a symbolic link: refusing to replace it", o.path)
	case !fi.Mode().IsRegular():
		return fmt.Errorf("place capture: %s is no longer a regular file", o.path)
	default:
		if err := checkNotBusy(o.path); err != nil {
			return err
		}
	}
	if err := os.Rename(o.tmp, o.path); err != nil {
		return fmt.Errorf("place capture: %w", err)
	}
	o.placed = true
	if err := o.dir.Sync(); err != nil && !errors.Is(err, unix.EINVAL) {
		return fmt.Errorf("place capture: sync %s: %w", o.dir.Name(), err)
	}
	return nil
}

// abort closes the output and removes the temporary file of a capture
// that never started: nothing stays behind.
func (o *output) abort() {
	if o.tmp != "" {
		// A capture placed before a later step failed (dropping the
		// privileges) goes too, if the name still holds it.
		name := o.tmp
		if o.placed {
			name = o.path
		}
		if a, err := o.f.Stat(); err == nil {
			if b, err := os.Lstat(name); err == nil && os.SameFile(a, b) {
				os.Remove(name)
			}
		}
	}
	o.f.Close()
	if o.dir != nil {
		o.dir.Close()
	}
}

// Close closes the capture file (its writer has completed it).
func (o *output) Close() error {
	err := o.f.Close()
	if o.dir != nil {
		o.dir.Close()
	}
	if err != nil {
		return fmt.Errorf("close capture: %w", err)
	}
	return nil
}

// createSetFile creates a file of a rotated or flight recorder set at
// name: new (O_EXCL, never through a symbolic link), with the mode, group
// and lock of every capture, owned by o.Owner when set.
func createSetFile(name string, o outputOptions) (*os.File, error) {
	f, err := os.OpenFile(name, os.O_CREATE|os.O_EXCL|os.O_WRONLY|unix.O_NOFOLLOW, 0o600)
	if err != nil {
		return nil, fmt.Errorf("create capture: %w", err)
	}
	err = setupFile(f, o)
	if err == nil && o.Owner != nil && os.Geteuid() != o.Owner.uid {
		gid := o.Owner.gid
		if o.Group >= 0 {
			gid = o.Group
		}
		if err = f.Chown(o.Owner.uid, gid); err != nil {
			err = fmt.Errorf("create capture: --user: %w", err)
		}
	}
	if err != nil {
		f.Close()
		os.Remove(name)
		return nil, err
	}
	return f, nil
}

// checkSetDir fails when, after dropping to id, the recorder could not
// create the next files of a set in the directory of path, or give them
// the group of o: said at start, not at the first rotation or trigger.
func checkSetDir(path string, o outputOptions, id *identity) error {
	if id == nil {
		return nil
	}
	dir := filepath.Dir(path)
	var st unix.Stat_t
	if err := unix.Stat(dir, &st); err != nil {
		return fmt.Errorf("--user %s: %s: %w", id.name, dir, err)
	}
	member := func(g int) bool { return g == id.gid || slices.Contains(id.groups, g) }
	perm := st.Mode & 0o7
	switch {
	case int(st.Uid) == id.uid:
		perm = st.Mode >> 6 & 0o7
	case member(int(st.Gid)):
		perm = st.Mode >> 3 & 0o7
	}
	if perm&0o3 != 0o3 {
		return fmt.Errorf("--user %s: cannot create the next files of the set in %s (mode %04o, owner %d:%d)", id.name, dir, st.Mode&0o7777, st.Uid, st.Gid)
	}
	if o.Group >= 0 && !member(o.Group) {
		return fmt.Errorf("--user %s is not in --group %d: the next files of the set could not get it", id.name, o.Group)
	}
	return nil
}
