#pragma once
// ThreadSanitizer annotations for orderings that happen inside uninstrumented libraries, where
// TSan cannot see them: DPDK's lcore launch and wait, TBB's pipeline hand-offs. release(p) on
// one thread happens before everything after a later acquire(p) on another. Nothing in other
// builds. docs/robustness.md, "ThreadSanitizer".
#if defined(__SANITIZE_THREAD__)
#define PATHLAB_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define PATHLAB_TSAN 1
#endif
#endif

#ifdef PATHLAB_TSAN
#include <sanitizer/tsan_interface.h>
#endif

namespace pathlab::tsan {

#ifdef PATHLAB_TSAN
inline void release(const void* p) { __tsan_release(const_cast<void*>(p)); }
inline void acquire(const void* p) { __tsan_acquire(const_cast<void*>(p)); }
#else
inline void release(const void*) {}
inline void acquire(const void*) {}
#endif

}  // namespace pathlab::tsan
