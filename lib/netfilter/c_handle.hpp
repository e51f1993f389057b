// Owning pointers to the netfilter libraries' C objects (nf_conntrack,
// nf_expect, nfct_helper, ...): each freed once by its library's own function.
#pragma once

#include <memory>

namespace tb::netfilter {

template <auto Free>
struct CFree {
    template <typename T>
    void operator()(T* p) const { Free(p); }
};

// CHandle<nf_conntrack, nfct_destroy>
template <typename T, auto Free>
using CHandle = std::unique_ptr<T, CFree<Free>>;

}  // namespace tb::netfilter
