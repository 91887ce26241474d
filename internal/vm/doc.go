// Package vm boots real Debian kernels under qemu (TCG, no KVM needed) with
// a small generated initramfs, runs a busybox shell script in them and
// brings the files the guest wrote to /out back to the host.
//
// It is the harness behind the real-kernel end-to-end tests in vmtest/ and
// scripts/vmrun. The pieces are usable on their own:
//
//   - [Fetch] resolves the newest Debian cloud kernel of a series ("6.1",
//     "6.12") from the apt metadata, downloads it with apt-get download into
//     a cache directory and unpacks it with dpkg-deb.
//   - [Kernel.ModuleClosure] resolves kernel modules and their dependencies
//     from the depends= strings of the modules' .modinfo sections.
//   - [CPIOWriter] and [BuildInitramfs] write a gzip-compressed newc
//     initramfs with static busybox, the requested files (dynamically
//     linked binaries bring the libraries ldd lists and the loader), the
//     modules and an /init script.
//   - [Run] boots it with qemu-system-x86_64 -accel tcg, watches the serial
//     console for the exit marker /init prints, enforces a timeout and
//     extracts the tar stream the guest wrote to its raw virtio output disk.
//
// Nothing here needs root except what apt-get download and qemu need (no
// root for either). The package shells out to apt-cache, apt-get, dpkg-deb,
// xz, ldd, busybox and qemu-system-x86_64; scripts/install-deps.sh installs
// them.
package vm
