// Ethernet and IP input as one compilation unit: IP input's per-packet work inlines into the rx
// loop of Ethernet input. The build has no LTO, and a second loop over the burst (or a call per
// packet) costs about 5 cycles a packet (bench/router/forward_bench.cc). IP input comes first:
// its inline definitions precede their use.
#include "ip_input.cc"
#include "eth_input.cc"
