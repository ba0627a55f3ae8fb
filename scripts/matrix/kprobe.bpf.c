// SPDX-License-Identifier: GPL-2.0
// The kernel matrix's kprobe smoke test (scripts/matrix/guest.py): a kprobe program counting
// getpid() calls. The guest attaches it through a perf event (PERF_EVENT_IOC_SET_BPF), as
// bpftrace and BCC do, and checks the agent lists it as a Kprobe with that task.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} kprobe_hits SEC(".maps");

SEC("kprobe/__x64_sys_getpid")
int matrix_kprobe(void *ctx)
{
	__u32 key = 0;
	__u64 *hits = bpf_map_lookup_elem(&kprobe_hits, &key);

	if (hits)
		__sync_fetch_and_add(hits, 1);
	return 0;
}

char _license[] SEC("license") = "GPL";
