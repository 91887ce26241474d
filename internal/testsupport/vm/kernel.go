package vm

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// Kernel is a Debian kernel unpacked on the host: one linux-image .deb
// (bullseye, bookworm) or, from trixie on, the linux-image meta package's
// linux-binary, linux-modules and linux-base packages unpacked together.
type Kernel struct {
	Series  string   // what was asked for, e.g. "6.12" or "latest"
	Package string   // e.g. "linux-image-6.12.117+deb12-cloud-amd64"
	Version string   // Debian package version, e.g. "6.12.117-1~deb12u1"
	Suite   string   // the suite it came from, e.g. "bookworm-security" ("" = unknown)
	Parts   []string // the packages unpacked, as name=version
	Release string   // uname -r of the kernel, e.g. "6.12.117+deb12-cloud-amd64"
	Root    string   // directory the packages were unpacked into
	Vmlinuz string   // path of the bootable image
	ModDir  string   // Root/lib/modules/<Release> or Root/usr/lib/modules/<Release>
}

// String returns "<series> (<package> <version>)".
func (k *Kernel) String() string {
	return fmt.Sprintf("%s (%s %s)", k.Series, k.Package, k.Version)
}

// seriesSpec says where a series' newest image is: the meta package in
// suites whose linux-image-* dependency starts with prefix.
type seriesSpec struct {
	name   string
	suites []string
	meta   string
	prefix string // "" = any linux-image-* package
}

// seriesSpecs are the series the harness knows, oldest first.
var seriesSpecs = []seriesSpec{
	{name: "5.10", suites: []string{"bullseye"}, meta: "linux-image-cloud-amd64", prefix: "linux-image-5.10"},
	{name: "6.1", suites: []string{"bookworm", "bookworm-security"}, meta: "linux-image-cloud-amd64", prefix: "linux-image-6.1"},
	{name: "6.12", suites: []string{"bookworm", "bookworm-security"}, meta: "linux-image-6.12-cloud-amd64", prefix: "linux-image-6.12"},
	// latest: the newest cloud kernel in sid, whatever its series.
	{name: "latest", suites: []string{"sid"}, meta: "linux-image-cloud-amd64"},
}

// KnownSeries lists the kernel series [Resolve] understands, oldest first;
// "latest" (sid's cloud kernel) is last.
func KnownSeries() []string {
	s := make([]string, 0, len(seriesSpecs))
	for _, sp := range seriesSpecs {
		s = append(s, sp.name)
	}
	return s
}

// ExpandSeries turns a comma-separated kernel list into series names:
// "all" (or "") is every known series, other names pass through; a name
// listed twice counts once.
func ExpandSeries(list string) []string {
	if list == "" || list == "all" {
		return KnownSeries()
	}
	var out []string
	seen := map[string]bool{}
	add := func(s string) {
		if s != "" && !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	for _, s := range strings.Split(list, ",") {
		if s = strings.TrimSpace(s); s == "all" {
			for _, k := range KnownSeries() {
				add(k)
			}
		} else {
			add(s)
		}
	}
	return out
}

// Resolved is a kernel package chosen from the apt metadata.
type Resolved struct {
	Series  string
	Package string // the linux-image-* package
	Version string
	Suite   string
	// Parts are the packages to unpack: the image itself, or, when the
	// image is a meta package (trixie on), its linux-binary-*,
	// linux-modules-* and linux-base-* dependencies.
	Parts []dependency
}

func matchesPrefix(pkg, prefix string) bool {
	if !strings.HasPrefix(pkg, "linux-image-") {
		return false
	}
	if prefix == "" {
		return true
	}
	return strings.HasPrefix(pkg, prefix+".") || strings.HasPrefix(pkg, prefix+"-")
}

// splitPart reports whether a dependency of an image package is one of the
// packages the split layout puts the kernel in. (Plain "linux-base" is
// Debian's kernel helper scripts package, not a part.)
func splitPart(name string) bool {
	for _, p := range []string{"linux-binary-", "linux-modules-", "linux-base-"} {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}

// resolveIn picks the newest image of series from cat. series is a known
// series name or a full linux-image-* package name (its newest version in
// any suite).
func resolveIn(series string, cat catalog) (*Resolved, error) {
	var best *Resolved
	consider := func(r *Resolved) {
		if best == nil || compareDebVersions(r.Version, best.Version) > 0 {
			best = r
		}
	}
	var spec *seriesSpec
	for i := range seriesSpecs {
		if seriesSpecs[i].name == series {
			spec = &seriesSpecs[i]
		}
	}
	switch {
	case spec != nil:
		for _, suite := range spec.suites {
			for _, meta := range cat[suite][spec.meta] {
				for _, d := range parseDepends(meta.Depends) {
					if !matchesPrefix(d.Name, spec.prefix) {
						continue
					}
					v := d.Version
					if v == "" {
						v = newestVersion(cat[suite][d.Name])
					}
					if v != "" {
						consider(&Resolved{Series: series, Package: d.Name, Version: v, Suite: suite})
					}
				}
			}
		}
		if best == nil {
			var seen []string
			for _, suite := range spec.suites {
				for _, meta := range cat[suite][spec.meta] {
					seen = append(seen, fmt.Sprintf("%s %s (%s) depends on %q", meta.Name, meta.Version, suite, meta.Depends))
				}
			}
			if len(seen) == 0 {
				seen = append(seen, "not listed")
			}
			return nil, fmt.Errorf("resolve kernel %s: no %s* dependency of %s in %s: %s",
				series, or(spec.prefix, "linux-image-"), spec.meta, strings.Join(spec.suites, ", "), strings.Join(seen, "; "))
		}
	case strings.HasPrefix(series, "linux-image-"):
		for suite, pkgs := range cat {
			for _, p := range pkgs[series] {
				consider(&Resolved{Series: series, Package: p.Name, Version: p.Version, Suite: suite})
			}
		}
		if best == nil {
			return nil, fmt.Errorf("resolve kernel %s: no such package in %s", series, strings.Join(suiteNames(), ", "))
		}
	default:
		return nil, fmt.Errorf("resolve kernel %q: unknown series (known: %s, or a linux-image-* package)", series, strings.Join(KnownSeries(), ", "))
	}
	img := findVersion(cat[best.Suite][best.Package], best.Version)
	if img == nil {
		return nil, fmt.Errorf("resolve kernel %s: %s %s is not in %s's index", series, best.Package, best.Version, best.Suite)
	}
	for _, d := range parseDepends(img.Depends) {
		if !splitPart(d.Name) {
			continue
		}
		if d.Version == "" {
			d.Version = best.Version
		}
		best.Parts = append(best.Parts, d)
	}
	if len(best.Parts) == 0 {
		best.Parts = []dependency{{Name: best.Package, Version: best.Version}}
	}
	return best, nil
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func newestVersion(pkgs []debPackage) string {
	v := ""
	for _, p := range pkgs {
		if v == "" || compareDebVersions(p.Version, v) > 0 {
			v = p.Version
		}
	}
	return v
}

func findVersion(pkgs []debPackage, v string) *debPackage {
	for i := range pkgs {
		if pkgs[i].Version == v {
			return &pkgs[i]
		}
	}
	return nil
}

// Resolve names the newest Debian kernel image of series ("5.10", "6.1",
// "6.12", "latest" or a linux-image-* package name) in the harness's own
// apt lists under cacheDir ("" = [DefaultCacheDir]), refreshing them when
// they are old. It downloads nothing.
func Resolve(ctx context.Context, series, cacheDir string) (*Resolved, error) {
	if cacheDir == "" {
		var err error
		if cacheDir, err = DefaultCacheDir(); err != nil {
			return nil, err
		}
	}
	a, err := setupApt(ctx, cacheDir)
	if err != nil {
		return nil, err
	}
	cat, err := a.loadCatalog(ctx)
	if err != nil {
		return nil, err
	}
	return resolveIn(series, cat)
}

func firstLine(b []byte) string {
	s := strings.TrimSpace(string(b))
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	return s
}

// DefaultCacheDir returns the kernel cache directory: $PWRU_VM_CACHE if
// set, else .cache/kernels in the module root above the working directory
// (the directory holding go.mod), else the user cache directory.
func DefaultCacheDir() (string, error) {
	if d := os.Getenv("PWRU_VM_CACHE"); d != "" {
		return d, nil
	}
	if root, err := ModuleRoot(); err == nil {
		return filepath.Join(root, ".cache", "kernels"), nil
	}
	d, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("find cache directory: %w", err)
	}
	return filepath.Join(d, "pwru-record", "kernels"), nil
}

// ModuleRoot returns the nearest directory at or above the working
// directory that contains a go.mod file.
func ModuleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("find module root: %w", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("find module root: no go.mod above the working directory")
		}
		dir = parent
	}
}

// Fetch resolves series with [Resolve], downloads its packages with
// apt-get download (the harness's own apt configuration) into cacheDir
// ("" = [DefaultCacheDir]) unless they are there already, unpacks them
// with dpkg-deb -x (once) and returns the unpacked kernel. Concurrent
// callers (also in other processes) are serialized with a lock file in
// cacheDir.
func Fetch(ctx context.Context, series, cacheDir string) (*Kernel, error) {
	if cacheDir == "" {
		var err error
		if cacheDir, err = DefaultCacheDir(); err != nil {
			return nil, err
		}
	}
	if err := os.MkdirAll(cacheDir, 0o755); err != nil {
		return nil, fmt.Errorf("fetch kernel %s: %w", series, err)
	}
	a, err := setupApt(ctx, cacheDir)
	if err != nil {
		return nil, err
	}
	cat, err := a.loadCatalog(ctx)
	if err != nil {
		return nil, err
	}
	r, err := resolveIn(series, cat)
	if err != nil {
		return nil, err
	}
	unlock, err := lockDir(cacheDir)
	if err != nil {
		return nil, fmt.Errorf("fetch kernel %s: %w", r.Package, err)
	}
	defer unlock()

	var parts []string
	for _, p := range r.Parts {
		parts = append(parts, p.Name+"="+p.Version)
	}
	base := r.Package + "_" + strings.ReplaceAll(r.Version, ":", "%3a")
	root := filepath.Join(cacheDir, base)
	if _, err := os.Stat(filepath.Join(root, ".unpacked")); err != nil {
		tmp := root + ".tmp"
		os.RemoveAll(tmp)
		for _, p := range r.Parts {
			deb, err := a.download(ctx, p.Name, p.Version, cacheDir)
			if err != nil {
				return nil, err
			}
			if out, err := exec.CommandContext(ctx, "dpkg-deb", "-x", deb, tmp).CombinedOutput(); err != nil {
				os.RemoveAll(tmp)
				return nil, fmt.Errorf("unpack %s: dpkg-deb -x: %w: %s", deb, err, strings.TrimSpace(string(out)))
			}
		}
		if err := os.WriteFile(filepath.Join(tmp, ".unpacked"), []byte(strings.Join(parts, " ")+"\n"), 0o644); err != nil {
			return nil, fmt.Errorf("unpack %s: %w", r.Package, err)
		}
		os.RemoveAll(root)
		if err := os.Rename(tmp, root); err != nil {
			return nil, fmt.Errorf("unpack %s: %w", r.Package, err)
		}
	}
	k, err := openKernel(series, r.Package, r.Version, root)
	if err != nil {
		return nil, err
	}
	k.Suite, k.Parts = r.Suite, parts
	return k, nil
}

// openKernel finds the image and modules of a kernel unpacked in root: the
// image at boot/vmlinuz-<release> (one .deb layout) or
// usr/lib/modules/<release>/vmlinuz (linux-binary-*, trixie on).
func openKernel(series, pkg, ver, root string) (*Kernel, error) {
	k := &Kernel{Series: series, Package: pkg, Version: ver, Root: root}
	var found []string
	imgs, _ := filepath.Glob(filepath.Join(root, "boot", "vmlinuz-*"))
	for _, img := range imgs {
		k.Vmlinuz, k.Release = img, strings.TrimPrefix(filepath.Base(img), "vmlinuz-")
		found = append(found, img)
	}
	for _, d := range []string{"lib", "usr/lib"} {
		imgs, _ := filepath.Glob(filepath.Join(root, d, "modules", "*", "vmlinuz"))
		for _, img := range imgs {
			k.Vmlinuz, k.Release = img, filepath.Base(filepath.Dir(img))
			found = append(found, img)
		}
	}
	if len(found) != 1 {
		return nil, fmt.Errorf("open kernel %s: want one boot/vmlinuz-* or usr/lib/modules/*/vmlinuz in %s, found %d", pkg, root, len(found))
	}
	for _, d := range []string{"lib", "usr/lib"} {
		md := filepath.Join(root, d, "modules", k.Release)
		if st, err := os.Stat(md); err == nil && st.IsDir() {
			if _, err := os.Stat(filepath.Join(md, "kernel")); err == nil || k.ModDir == "" {
				k.ModDir = md
			}
		}
	}
	if k.ModDir == "" {
		return nil, fmt.Errorf("open kernel %s: no modules directory for %s under %s", pkg, k.Release, root)
	}
	return k, nil
}

// lockDir takes an exclusive flock on dir/.lock.
func lockDir(dir string) (func(), error) {
	f, err := os.OpenFile(filepath.Join(dir, ".lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", dir, err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %s: %w", dir, err)
	}
	return func() {
		unix.Flock(int(f.Fd()), unix.LOCK_UN)
		f.Close()
	}, nil
}
