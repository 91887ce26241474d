// Package procfs reads the kernel files the recorder takes its picture of
// the kernel from, each with one parser: /proc/kallsyms, ftrace's
// available_filter_functions, the raw BTF of /sys/kernel/btf, and the
// network namespaces in reach with their interfaces. The big
// text files are read once into whole-line chunks and parsed in place
// (nothing allocated per line); the BTF is scanned in one pass without
// decoding every type.
package procfs
