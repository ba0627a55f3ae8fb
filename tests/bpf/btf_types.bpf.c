// SPDX-License-Identifier: GPL-2.0
// Test fixture for the BTF parser and value renderer (tests/kernel/test_btf.py): maps whose
// keys and values use as many BTF kinds and C layouts as clang emits, so that our rendering can
// be compared with `bpftool -j map dump` field by field. The programs only reference the maps.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

enum color {
	RED = 0,
	GREEN = 5,
	BLUE = -1,
};

enum small_enum : unsigned char {
	SMALL_A = 1,
	SMALL_B = 200,
};

struct inner {
	__u16 port;
	signed char delta;
	char tag;
};

// kind_flag struct: clang records each member's bitfield size next to its bit offset.
struct bits {
	unsigned int lo : 3;
	unsigned int mid : 9;
	int neg : 4;
	unsigned long long wide : 40;
	enum color ebits : 8;
};

typedef __u32 ifindex_t;
typedef const volatile ifindex_t cv_ifindex_t;

struct flow_key {
	__u8 u8;
	__u16 u16;
	__u32 u32;
	__u64 u64;
	char name[8];
	struct inner in;
	union {
		__u32 addr4;
		__u8 bytes[4];
	};
	struct {
		__u16 lo16;
		__u16 hi16;
	};
	enum color color;
	enum small_enum small;
	cv_ifindex_t ifindex;
	struct bits bits;
};

struct flow_val {
	int counts[4];
	char comm[16];
	_Bool flag;
	_Bool flags[3];
	__s64 delta;
	short s16;
	signed char s8;
	unsigned char uc[4];
	__u8 u8s[3];
	void *ptr;
	const char *cptr;
	unsigned __int128 big;
	__int128 sbig;
	char grid[2][3];
	struct inner inners[2];
};

struct pcpu_val {
	__u64 packets;
	__u32 bytes;
	char last[6];
};

union either {
	__u64 whole;
	__u32 halves[2];
	struct {
		__u8 first;
		__u8 second;
	} bytes;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16);
	__type(key, struct flow_key);
	__type(value, struct flow_val);
} flows SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 16);
	__type(key, char[12]);
	__type(value, struct pcpu_val);
} pcpu_names SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, __s16);
} pcpu_shorts SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 3);
	__type(key, __u32);
	__type(value, enum color);
} colors SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, _Bool);
} bools SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 8);
	__type(key, __s64);
	__type(value, union either);
} unions SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 8);
	__type(key, unsigned char[4]);
	__type(value, float);
} floats SEC(".maps");

// Global variables: libbpf turns .data and .bss into array maps whose value is a DATASEC.
__u64 total_packets = 7;
char greeting[8] = "hello";
int last_len;
struct inner last_inner;

SEC("socket")
int use_maps(struct __sk_buff *skb)
{
	struct flow_key fk = {};
	__u32 zero = 0;
	__s64 skey = 0;
	char name[12] = {};
	unsigned char fkey[4] = {};

	if (bpf_map_lookup_elem(&flows, &fk))
		total_packets++;
	if (bpf_map_lookup_elem(&pcpu_names, name))
		total_packets++;
	if (bpf_map_lookup_elem(&pcpu_shorts, &zero))
		total_packets++;
	if (bpf_map_lookup_elem(&colors, &zero))
		total_packets++;
	if (bpf_map_lookup_elem(&bools, &zero))
		total_packets++;
	if (bpf_map_lookup_elem(&unions, &skey))
		total_packets++;
	if (bpf_map_lookup_elem(&floats, fkey))
		total_packets++;
	last_len = skb->len;
	last_inner.port = skb->len;
	return greeting[0];
}

char _license[] SEC("license") = "GPL";
