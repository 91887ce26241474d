// Package procfs reads the kernel files the recorder takes its picture of
// the kernel from, each with one parser: /proc/kallsyms, ftrace's
// available_filter_functions and the raw BTF of /sys/kernel/btf. The big
// text files are read once into whole-line chunks and parsed in place
// (nothing allocated per line); the BTF is scanned in one pass without
// decoding every type.
package procfs
