package vm

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestCompareDebVersions(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want int
	}{
		{"1.0", "1.0", 0},
		{"1.0", "1.1", -1},
		{"1.10", "1.9", 1},
		{"6.1.192-3", "6.1.176-1", 1},
		{"6.12.117-1~deb12u1", "6.12.117-1", -1},
		{"6.12.117-1", "6.12.117-1+b1", -1},
		{"1.0~rc1", "1.0", -1},
		{"1.0~~", "1.0~", -1},
		{"1:1.0", "2.0", 1},
		{"0:1.0", "1.0", 0},
		{"1.0a", "1.0", 1},
		{"1.0a", "1.0+", -1}, // letters sort before non-letters
		{"7.2.13-1", "6.12.117-1", 1},
		{"5.10.223-1", "5.10.223-1", 0},
		{"1.001", "1.1", 0},
		{"1.0-1", "1.0", 1},
	} {
		if got := compareDebVersions(tc.a, tc.b); got != tc.want {
			t.Errorf("compareDebVersions(%q, %q) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
		if got := compareDebVersions(tc.b, tc.a); got != -tc.want {
			t.Errorf("compareDebVersions(%q, %q) = %d, want %d", tc.b, tc.a, got, -tc.want)
		}
	}
}

func TestParseDepends(t *testing.T) {
	for _, tc := range []struct {
		field string
		want  []dependency
	}{
		{"", nil},
		{"linux-image-6.1.0-57-cloud-amd64 (= 6.1.192-3)", []dependency{{"linux-image-6.1.0-57-cloud-amd64", "6.1.192-3"}}},
		{"dracut | initramfs-tools (>= 0.120+deb8u2) | linux-initramfs-tool, linux-base-7.2.13+deb14-cloud-amd64 (= 7.2.13-1)",
			[]dependency{{"dracut", ""}, {"initramfs-tools", ""}, {"linux-initramfs-tool", ""}, {"linux-base-7.2.13+deb14-cloud-amd64", "7.2.13-1"}}},
		{"kmod, python3:any (>= 3.5)", []dependency{{"kmod", ""}, {"python3", ""}}},
	} {
		if d := cmp.Diff(tc.want, parseDepends(tc.field)); d != "" {
			t.Errorf("parseDepends(%q) (-want +got):\n%s", tc.field, d)
		}
	}
}

func TestParsePackages(t *testing.T) {
	in := "Package: bash\nVersion: 5.2\nDepends: base-files\n\n" +
		"Package: linux-image-cloud-amd64\nSource: linux-signed-amd64\nVersion: 6.1.192-3\n" +
		"Depends: linux-image-6.1.0-57-cloud-amd64 (= 6.1.192-3)\nDescription: Linux for x86-64 cloud (meta-package)\n" +
		" This package depends on the latest Linux kernel\n\n\n" +
		"Package: linux-noversion\n\n" +
		"Package: linux-image-6.1.0-57-cloud-amd64\nVersion: 6.1.192-3\nPre-Depends: linux-base (>= 4.3~)\nDepends: kmod, linux-base (>= 4.3~)"
	got, err := parsePackages(strings.NewReader(in), "bookworm", kernelPackageName)
	if err != nil {
		t.Fatal(err)
	}
	want := []debPackage{
		{Name: "linux-image-cloud-amd64", Version: "6.1.192-3", Depends: "linux-image-6.1.0-57-cloud-amd64 (= 6.1.192-3)", Suite: "bookworm"},
		{Name: "linux-image-6.1.0-57-cloud-amd64", Version: "6.1.192-3", Depends: "kmod, linux-base (>= 4.3~)", Suite: "bookworm"},
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("parsePackages (-want +got):\n%s", d)
	}
}

func FuzzParsePackages(f *testing.F) {
	f.Add("Package: linux-image-cloud-amd64\nVersion: 1\nDepends: a (= 1) | b, c\n\n")
	f.Add("Package:\n\n\nVersion: x\n")
	f.Fuzz(func(t *testing.T, in string) {
		pkgs, err := parsePackages(strings.NewReader(in), "s", func(string) bool { return true })
		if err != nil {
			return
		}
		for _, p := range pkgs {
			if p.Name == "" || p.Version == "" || p.Suite != "s" {
				t.Fatalf("stanza without name or version kept: %+v", p)
			}
			for _, d := range parseDepends(p.Depends) {
				if d.Name == "" {
					t.Fatalf("empty dependency name in %q", p.Depends)
				}
			}
		}
	})
}

func FuzzCompareDebVersions(f *testing.F) {
	f.Add("6.12.117-1~deb12u1", "6.12.117-1")
	f.Add("1:0~", "0:00")
	f.Fuzz(func(t *testing.T, a, b string) {
		ab, ba := compareDebVersions(a, b), compareDebVersions(b, a)
		if ab != -ba || ab < -1 || ab > 1 {
			t.Fatalf("compare(%q, %q) = %d but compare(%q, %q) = %d", a, b, ab, b, a, ba)
		}
		if compareDebVersions(a, a) != 0 {
			t.Fatalf("compare(%q, %q) != 0", a, a)
		}
	})
}

// testCatalog is the apt metadata of 2026-12-02 as far as the resolver
// reads it (abridged Depends fields).
func testCatalog(t *testing.T) catalog {
	t.Helper()
	idx := map[string]string{
		"bullseye": "Package: linux-image-cloud-amd64\nVersion: 5.10.223-1\nDepends: linux-image-5.10.0-32-cloud-amd64 (= 5.10.223-1)\n\n" +
			"Package: linux-image-5.10.0-32-cloud-amd64\nVersion: 5.10.223-1\nDepends: kmod, linux-base (>= 4.3~), initramfs-tools (>= 0.120+deb8u2) | linux-initramfs-tool\n",
		"bookworm": "Package: linux-image-cloud-amd64\nVersion: 6.1.176-1\nDepends: linux-image-6.1.0-50-cloud-amd64 (= 6.1.176-1)\n\n" +
			"Package: linux-image-6.1.0-50-cloud-amd64\nVersion: 6.1.176-1\nDepends: kmod\n",
		"bookworm-security": "Package: linux-image-cloud-amd64\nVersion: 6.1.192-3\nDepends: linux-image-6.1.0-57-cloud-amd64 (= 6.1.192-3)\n\n" +
			"Package: linux-image-6.1.0-57-cloud-amd64\nVersion: 6.1.192-3\nDepends: kmod\n\n" +
			"Package: linux-image-6.12-cloud-amd64\nVersion: 6.12.117-1~deb12u1\nDepends: linux-image-6.12.117+deb12-cloud-amd64 (= 6.12.117-1~deb12u1)\n\n" +
			"Package: linux-image-6.12.117+deb12-cloud-amd64\nVersion: 6.12.117-1~deb12u1\nDepends: kmod\n",
		"trixie": "Package: linux-image-cloud-amd64\nVersion: 6.12.117-1\nDepends: linux-image-6.12.117+deb13-cloud-amd64 (= 6.12.117-1)\n\n" +
			"Package: linux-image-6.12.117+deb13-cloud-amd64\nVersion: 6.12.117-1\nDepends: linux-binary-6.12.117+deb13-cloud-amd64 (= 6.12.117-1)\n",
		"sid": "Package: linux-image-cloud-amd64\nVersion: 7.2.13-1\nDepends: linux-base-cloud-amd64 (= 7.2.13-1), linux-image-7.2.13+deb14-cloud-amd64 (= 7.2.13-1)\n\n" +
			"Package: linux-image-7.2.13+deb14-cloud-amd64\nVersion: 7.2.13-1\n" +
			"Depends: dracut | initramfs-tools (>= 0.120+deb8u2) | linux-initramfs-tool, linux-base-7.2.13+deb14-cloud-amd64 (= 7.2.13-1), linux-binary-7.2.13+deb14-cloud-amd64 (= 7.2.13-1), linux-modules-7.2.13+deb14-cloud-amd64 (= 7.2.13-1)\n" +
			"Pre-Depends: linux-base (>= 4.17~)\n",
	}
	cat := catalog{}
	for suite, text := range idx {
		pkgs, err := parsePackages(strings.NewReader(text), suite, kernelPackageName)
		if err != nil {
			t.Fatal(err)
		}
		cat[suite] = map[string][]debPackage{}
		for _, p := range pkgs {
			cat[suite][p.Name] = append(cat[suite][p.Name], p)
		}
	}
	return cat
}

func TestResolveIn(t *testing.T) {
	cat := testCatalog(t)
	for _, tc := range []struct {
		series string
		want   *Resolved
		err    string
	}{
		{series: "5.10", want: &Resolved{Series: "5.10", Package: "linux-image-5.10.0-32-cloud-amd64", Version: "5.10.223-1", Suite: "bullseye",
			Parts: []dependency{{"linux-image-5.10.0-32-cloud-amd64", "5.10.223-1"}}}},
		// The newer of bookworm's and bookworm-security's.
		{series: "6.1", want: &Resolved{Series: "6.1", Package: "linux-image-6.1.0-57-cloud-amd64", Version: "6.1.192-3", Suite: "bookworm-security",
			Parts: []dependency{{"linux-image-6.1.0-57-cloud-amd64", "6.1.192-3"}}}},
		// bookworm's 6.12 (one .deb), not trixie's.
		{series: "6.12", want: &Resolved{Series: "6.12", Package: "linux-image-6.12.117+deb12-cloud-amd64", Version: "6.12.117-1~deb12u1", Suite: "bookworm-security",
			Parts: []dependency{{"linux-image-6.12.117+deb12-cloud-amd64", "6.12.117-1~deb12u1"}}}},
		// The split layout: linux-base-cloud-amd64 is not an image; plain
		// linux-base is not a part.
		{series: "latest", want: &Resolved{Series: "latest", Package: "linux-image-7.2.13+deb14-cloud-amd64", Version: "7.2.13-1", Suite: "sid",
			Parts: []dependency{
				{"linux-base-7.2.13+deb14-cloud-amd64", "7.2.13-1"},
				{"linux-binary-7.2.13+deb14-cloud-amd64", "7.2.13-1"},
				{"linux-modules-7.2.13+deb14-cloud-amd64", "7.2.13-1"},
			}}},
		{series: "linux-image-6.12.117+deb13-cloud-amd64", want: &Resolved{Series: "linux-image-6.12.117+deb13-cloud-amd64",
			Package: "linux-image-6.12.117+deb13-cloud-amd64", Version: "6.12.117-1", Suite: "trixie",
			Parts: []dependency{{"linux-binary-6.12.117+deb13-cloud-amd64", "6.12.117-1"}}}},
		{series: "4.19", err: `unknown series`},
		{series: "linux-image-nope", err: "no such package"},
	} {
		t.Run(tc.series, func(t *testing.T) {
			got, err := resolveIn(tc.series, cat)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want one containing %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tc.want, got); d != "" {
				t.Errorf("resolveIn (-want +got):\n%s", d)
			}
		})
	}
	delete(cat, "bullseye")
	if _, err := resolveIn("5.10", cat); err == nil || !strings.Contains(err.Error(), "not listed") {
		t.Errorf("5.10 without bullseye's index: err = %v", err)
	}
}

func TestExpandSeries(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string
	}{
		{"all", []string{"5.10", "6.1", "6.12", "latest"}},
		{"", []string{"5.10", "6.1", "6.12", "latest"}},
		{"6.12", []string{"6.12"}},
		{"latest, 5.10", []string{"latest", "5.10"}},
		{"6.1,6.1,all", []string{"6.1", "5.10", "6.12", "latest"}},
	} {
		if d := cmp.Diff(tc.want, ExpandSeries(tc.in)); d != "" {
			t.Errorf("ExpandSeries(%q) (-want +got):\n%s", tc.in, d)
		}
	}
}

func TestOpenKernel(t *testing.T) {
	touch := func(t *testing.T, root string, files ...string) {
		t.Helper()
		for _, f := range files {
			p := filepath.Join(root, f)
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, nil, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, tc := range []struct {
		name           string
		files          []string
		release, image string // relative to root
		moddir, err    string
	}{
		{name: "one deb", files: []string{"boot/vmlinuz-6.1.0-57-cloud-amd64", "lib/modules/6.1.0-57-cloud-amd64/kernel/x.ko"},
			release: "6.1.0-57-cloud-amd64", image: "boot/vmlinuz-6.1.0-57-cloud-amd64", moddir: "lib/modules/6.1.0-57-cloud-amd64"},
		{name: "split", files: []string{
			"usr/lib/modules/7.2.13+deb14-cloud-amd64/vmlinuz",
			"usr/lib/modules/7.2.13+deb14-cloud-amd64/kernel/drivers/net/veth.ko.xz",
			"usr/lib/modules/7.2.13+deb14-cloud-amd64/modules.builtin",
			"boot/config-7.2.13+deb14-cloud-amd64",
		}, release: "7.2.13+deb14-cloud-amd64", image: "usr/lib/modules/7.2.13+deb14-cloud-amd64/vmlinuz", moddir: "usr/lib/modules/7.2.13+deb14-cloud-amd64"},
		{name: "no image", files: []string{"lib/modules/x/kernel/a.ko"}, err: "found 0"},
		{name: "two images", files: []string{"boot/vmlinuz-a", "usr/lib/modules/b/vmlinuz"}, err: "found 2"},
		{name: "no modules", files: []string{"boot/vmlinuz-a"}, err: "no modules directory"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			touch(t, root, tc.files...)
			k, err := openKernel("s", "pkg", "1", root)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want one containing %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if k.Release != tc.release || k.Vmlinuz != filepath.Join(root, tc.image) || k.ModDir != filepath.Join(root, tc.moddir) {
				t.Errorf("release %q image %q moddir %q, want %q %q %q", k.Release, k.Vmlinuz, k.ModDir, tc.release, tc.image, tc.moddir)
			}
		})
	}
}

func TestAptConf(t *testing.T) {
	conf := aptConfText("/c/apt")
	for _, want := range []string{`Dir::Etc::SourceList "/c/apt/sources.list";`, `Dir::Etc::Parts "/c/apt/apt.conf.d";`,
		`Dir::State::Lists "/c/apt/lists";`, `Dir::Cache "/c/apt/cache";`, `Dir::State::status "/c/apt/status";`} {
		if !strings.Contains(conf, want) {
			t.Errorf("apt.conf lacks %s:\n%s", want, conf)
		}
	}
	src := aptSourcesList()
	for _, s := range []string{" bullseye main", " bookworm main", "debian-security bookworm-security main", " trixie main", " sid main"} {
		if !strings.Contains(src, s) {
			t.Errorf("sources.list lacks %q:\n%s", s, src)
		}
	}
	if strings.Count(src, "signed-by="+archiveKeyring) != len(aptSources) {
		t.Errorf("every source must be signed-by the archive keyring:\n%s", src)
	}
}
