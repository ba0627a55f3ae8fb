// Where a bpf link attaches its program, in words a person reads (the Links page, the
// graph): the interface, the cgroup, the function or tracepoint, the netfilter hook, the map
// or target program, from the Link's own fields and the kernel's details (bpftool's keys),
// never as raw JSON. Also the attach type where the kernel's link info has none of its own
// (XDP, raw tracepoint, perf event links, ...): what the link type implies.

// enum bpf_perf_event_type (a perf-event link's details carry only the number).
const PERF_EVENT_TYPES = ["perf event", "uprobe", "uretprobe", "kprobe", "kretprobe",
  "tracepoint", "perf event"];
const IMPLIED_ATTACH_TYPE = {
  XDP: "xdp", RawTracepoint: "raw_tracepoint", Iter: "trace_iter", StructOps: "struct_ops",
  Netfilter: "netfilter", PerfEvent: "perf_event",
};
const KPROBE_MULTI_RETURN = 1;  // BPF_F_KPROBE_MULTI_RETURN
const UPROBE_MULTI_RETURN = 1;  // BPF_F_UPROBE_MULTI_RETURN

function parsed(details) {
  try {
    return details ? JSON.parse(details) : {};
  } catch (_) {
    return {};
  }
}

/** The link's attach type: the kernel's, else what its type implies ("" when neither). */
export function linkAttachType(link) {
  if (link.attachType) return link.attachType;
  const d = parsed(link.details);
  if (link.type === "KprobeMulti") {
    return d.flags & KPROBE_MULTI_RETURN ? "kretprobe_multi" : "kprobe_multi";
  }
  if (link.type === "UprobeMulti") {
    return d.flags & UPROBE_MULTI_RETURN ? "uretprobe_multi" : "uprobe_multi";
  }
  return IMPLIED_ATTACH_TYPE[link.type] || "";
}

/** Where the link attaches, as [kind, text]: kind is interface, cgroup, function,
 * tracepoint, netns, netfilter, map, program or other (what the graph draws it as). */
export function linkWhere(link) {
  const d = parsed(link.details);
  if (link.interfaceName || link.ifindex) {
    const dir = /ingress|egress/.exec(link.attachType || "");
    return ["interface", `${link.interfaceName || `ifindex ${link.ifindex}`}${
      dir ? ` ${dir[0]}` : ""}`];
  }
  if (link.cgroupPath || link.cgroupId) {
    return ["cgroup", link.cgroupPath || `cgroup id ${link.cgroupId}`];
  }
  if (link.netfilterHook) {
    return ["netfilter", `${link.netfilterFamily || ""} ${link.netfilterHook}, priority ${
      link.netfilterPriority}`.trim()];
  }
  if (link.type === "Tracing") {
    // target_obj_id is a program's id when the target is a program (freplace, fentry on a
    // program), else the BTF object's (1: vmlinux, the usual case).
    const obj = d.target_obj_id;
    const name = link.tracingTarget || `BTF type ${d.target_btf_id}`;
    return ["function", obj && obj !== 1 ? `${name} (in BTF object or program #${obj})`
      : name];
  }
  if (d.tp_name) return ["tracepoint", d.tp_name];
  if (link.type === "NetNs") return ["netns", `netns ${link.netnsIno}`];
  if (link.type === "Iter") {
    return ["other", `${d.target_name || "iterator"}${link.mapId ? ` of map #${link.mapId}`
      : ""}`];
  }
  if (link.mapId) return ["map", `map #${link.mapId}`];
  if (link.type === "KprobeMulti") return ["function", `${d.func_cnt} functions`];
  if (link.type === "UprobeMulti") {
    return ["function", `${d.count} probes${d.pid ? ` in process ${d.pid}` : ""}`];
  }
  if (link.type === "PerfEvent") {
    return ["other", PERF_EVENT_TYPES[d.perf_event_type] || "perf event"];
  }
  return ["other", ""];
}
