// keel.hpp — C++ on the keel heap: keel::create<T>(args...) and
// keel::destroy(p); allocators for the standard containers and an owner of
// first-class heaps (keel::allocator, keel::heap_allocator, keel::unique_heap,
// below create/destroy); and, opt-in, every global operator new/delete on keel.
// C++11 or later; the heap's contract is keel.h's (DESIGN.md sections 4, 6).
//
// USAGE
//   #include "keel/keel.hpp"
//   Foo* foo = keel::create<Foo>(1, std::move(name));  // keel_alloc + Foo(1, ...)
//   keel::destroy(foo);                                 // foo->~Foo(), keel_free
//
//   create<T>(args...)  allocates sizeof(T) bytes from keel (keel_alloc, or
//       keel_alloc_aligned when alignof(T) > 16) and constructs T(args...)
//       there, perfectly forwarded (parentheses, as std::make_unique does).
//       Out of memory: throws std::bad_alloc. T's constructor throws: the
//       memory is freed and the exception propagates. Built without
//       exceptions (-fno-exceptions), out of memory returns nullptr instead.
//   destroy(p)  nullptr: nothing. Otherwise p->~T() (virtual when T's
//       destructor is), then keel_free of the whole object: for a polymorphic
//       T, p may point at a base subobject, as with delete. The memory is
//       freed even if the destructor throws.
//   A block from create goes back with destroy (or keel_free after an explicit
//   destructor call), never with delete or free().
//
// KEEL_OVERRIDE_NEW: every global operator new/delete on keel
//   In exactly ONE translation unit of the program:
//       #define KEEL_OVERRIDE_NEW
//       #include "keel/keel.hpp"
//   That unit then defines the replaceable global allocation functions of
//   [new.delete]: new and new[], each plain, nothrow, aligned (std::align_val_t)
//   and aligned nothrow; delete and delete[], each plain, sized, nothrow,
//   aligned, sized aligned and aligned nothrow. They are ordinary
//   (non-inline) definitions, as the standard requires of replacements: a
//   second unit defining KEEL_OVERRIDE_NEW fails to link with duplicate
//   symbols; units that include keel.hpp without it are unaffected.
//   - Every new-expression in the program, the standard library's containers
//     and strings included, then allocates from keel; an object from new goes
//     back with delete. NEVER pass it to free() or realloc(): it is not a C
//     heap block, and the C heap would be corrupted. Nor delete what malloc
//     returned.
//   - Throwing forms follow the standard: while keel returns NULL, call
//     std::get_new_handler() and retry; with no handler installed, throw
//     std::bad_alloc (abort() when built without exceptions). The nothrow
//     forms do the same and return nullptr where those would throw. new of
//     0 bytes returns a unique pointer. Sized deletes ignore the size.
//   - The aligned forms exist when the unit is compiled with aligned new
//     (__cpp_aligned_new, C++17); the sized ones from C++14. Compiled as
//     C++11, over-aligned new elsewhere in the program keeps the C++
//     runtime's own aligned operators (allocation and release stay paired).
//   - A replacement reaches what the platform links against it: the whole
//     program for a static or ELF executable; on Windows, each DLL keeps the
//     operators it was linked with.

#ifndef KEEL_KEEL_HPP
#define KEEL_KEEL_HPP

#ifndef __cplusplus
#error "keel/keel.hpp is C++; C uses keel/keel.h (keel_create, keel_destroy)"
#endif

#include "keel.h"

#include <cstddef>
#include <cstdlib>
#include <new>
#include <type_traits>
#include <utility>

// Internal: whether this unit is compiled with exceptions.
#if defined(__cpp_exceptions) || defined(__EXCEPTIONS) || defined(_CPPUNWIND)
#  define KEEL_HPP_EXCEPTIONS 1
#else
#  define KEEL_HPP_EXCEPTIONS 0
#endif

namespace keel {
namespace detail {

// Every keel block is 16-byte aligned (keel.h); stricter ones are asked for.
static const std::size_t heap_alignment = 16;

inline void* alloc_block(std::size_t num_bytes, std::size_t alignment) noexcept {
    // keel.h promises a unique pointer for keel_alloc(0) only, hence the 1.
    return alignment > heap_alignment ? keel_alloc_aligned(num_bytes ? num_bytes : 1, alignment)
                                      : keel_alloc(num_bytes);
}

// The start of the block holding *p: a polymorphic object may be reached
// through a base subobject at another address, so ask for the most derived
// one (dynamic_cast to void* needs no RTTI), as a delete-expression would.
template<class T>
inline void* block_of(T* p, std::true_type /*polymorphic*/) noexcept {
    return const_cast<void*>(dynamic_cast<const volatile void*>(p));
}
template<class T>
inline void* block_of(T* p, std::false_type /*polymorphic*/) noexcept {
    return const_cast<void*>(static_cast<const volatile void*>(p));
}

// Runs ~T; a destructor that may throw still gets its memory freed, as with
// a delete-expression (the try is only there when it can throw).
template<class T>
inline void run_destructor(T* p, void* /*mem*/, std::true_type /*nothrow*/) noexcept {
    p->~T();
}
template<class T>
inline void run_destructor(T* p, void* mem, std::false_type /*nothrow*/) {
#if KEEL_HPP_EXCEPTIONS
    try {
        p->~T();
    } catch (...) {
        keel_free(mem);
        throw;
    }
#else
    (void)mem;
    p->~T();
#endif
}

}  // namespace detail

// Allocates a T from keel and constructs it with T(std::forward<Args>(args)...).
// Throws std::bad_alloc when keel has no memory; if the constructor throws,
// the memory is freed and the exception rethrown. Release with keel::destroy.
template<class T, class... Args>
T* create(Args&&... args) {
    static_assert(std::is_object<T>::value && !std::is_array<T>::value,
                  "keel::create<T>: T must be an object type, not an array");
    void* mem = detail::alloc_block(sizeof(T), alignof(T));
#if KEEL_HPP_EXCEPTIONS
    if (!mem) throw std::bad_alloc();
    try {
        return ::new (mem) T(std::forward<Args>(args)...);
    } catch (...) {
        keel_free(mem);
        throw;
    }
#else
    if (!mem) return nullptr;
    return ::new (mem) T(std::forward<Args>(args)...);
#endif
}

// Destroys *p and frees its memory; nullptr is a no-op. p must come from
// keel::create (of T or, when T's destructor is virtual, of a derived type).
template<class T>
void destroy(T* p) noexcept(std::is_nothrow_destructible<T>::value) {
    if (!p) return;
    void* mem = detail::block_of(p, std::integral_constant<bool, std::is_polymorphic<T>::value>());
    detail::run_destructor(p, mem, std::integral_constant<bool, std::is_nothrow_destructible<T>::value>());
    keel_free(mem);
}

// ---- allocators for the standard containers, first-class heaps (DESIGN.md section 11) ----
//   std::vector<int, keel::allocator<int>> v;            // blocks from keel_alloc
//   keel::unique_heap heap;                              // keel_heap_new; keel_heap_destroy at scope exit
//   keel::heap_allocator<int> in_heap(heap.get());
//   std::vector<int, keel::heap_allocator<int>> w(in_heap);   // blocks from that heap
//
//   allocator<T>        stateless, all equal: the default heap.
//   heap_allocator<T>   holds a keel_heap* (nullptr: the default heap); two
//       compare equal when they name the same heap. Containers carry it on
//       copy, move and swap (the propagate_on_* traits are true).
//   Both allocate n * sizeof(T) aligned for T (keel_heap_alloc_aligned past
//   16 bytes) and throw std::bad_alloc when keel returns NULL (abort() when
//   built without exceptions); deallocate is keel_free.
//   unique_heap         owns a heap: created by the constructor (std::bad_alloc
//       when keel has no memory), destroyed with every block in it by the
//       destructor, move-only. A container whose blocks live in the heap must
//       not outlive it: declare the unique_heap first, or never destroy such
//       containers (the heap takes their blocks with it, in time proportional
//       to its segments).

namespace detail {
[[noreturn]] inline void allocator_out_of_memory() {
#if KEEL_HPP_EXCEPTIONS
    throw std::bad_alloc();
#else
    std::abort();
#endif
}

inline void* heap_block(keel_heap* heap, std::size_t count, std::size_t size, std::size_t alignment) {
    void* p = nullptr;
    if (size == 0 || count <= static_cast<std::size_t>(-1) / size) {
        std::size_t bytes = count * size;
        p = alignment > heap_alignment ? keel_heap_alloc_aligned(heap, bytes ? bytes : 1, alignment)
                                       : keel_heap_alloc(heap, bytes);
    }
    if (!p) allocator_out_of_memory();
    return p;
}
}  // namespace detail

template<class T>
class allocator {
public:
    typedef T value_type;
    typedef std::true_type is_always_equal;
    typedef std::true_type propagate_on_container_move_assignment;
    template<class U> struct rebind { typedef allocator<U> other; };

    allocator() noexcept {}
    template<class U> allocator(const allocator<U>&) noexcept {}

    T* allocate(std::size_t n) { return static_cast<T*>(detail::heap_block(nullptr, n, sizeof(T), alignof(T))); }
    void deallocate(T* p, std::size_t) noexcept { keel_free(p); }
};
template<class T, class U>
inline bool operator==(const allocator<T>&, const allocator<U>&) noexcept { return true; }
template<class T, class U>
inline bool operator!=(const allocator<T>&, const allocator<U>&) noexcept { return false; }

template<class T>
class heap_allocator {
public:
    typedef T value_type;
    typedef std::false_type is_always_equal;
    typedef std::true_type propagate_on_container_copy_assignment;
    typedef std::true_type propagate_on_container_move_assignment;
    typedef std::true_type propagate_on_container_swap;
    template<class U> struct rebind { typedef heap_allocator<U> other; };

    explicit heap_allocator(keel_heap* heap = nullptr) noexcept : heap_(heap) {}
    template<class U> heap_allocator(const heap_allocator<U>& other) noexcept : heap_(other.heap()) {}

    T* allocate(std::size_t n) { return static_cast<T*>(detail::heap_block(heap_, n, sizeof(T), alignof(T))); }
    void deallocate(T* p, std::size_t) noexcept { keel_free(p); }
    keel_heap* heap() const noexcept { return heap_; }

private:
    keel_heap* heap_;
};
template<class T, class U>
inline bool operator==(const heap_allocator<T>& a, const heap_allocator<U>& b) noexcept { return a.heap() == b.heap(); }
template<class T, class U>
inline bool operator!=(const heap_allocator<T>& a, const heap_allocator<U>& b) noexcept { return a.heap() != b.heap(); }

class unique_heap {
public:
    unique_heap() : heap_(keel_heap_new()) {
        if (!heap_) detail::allocator_out_of_memory();
    }
    explicit unique_heap(keel_heap* adopt) noexcept : heap_(adopt) {}   // takes ownership (may be nullptr)
    unique_heap(unique_heap&& other) noexcept : heap_(other.heap_) { other.heap_ = nullptr; }
    unique_heap& operator=(unique_heap&& other) noexcept {
        if (this != &other) {
            keel_heap_destroy(heap_);
            heap_ = other.heap_;
            other.heap_ = nullptr;
        }
        return *this;
    }
    unique_heap(const unique_heap&) = delete;
    unique_heap& operator=(const unique_heap&) = delete;
    ~unique_heap() { keel_heap_destroy(heap_); }

    keel_heap* get() const noexcept { return heap_; }
    keel_heap* release() noexcept {   // the caller destroys it
        keel_heap* h = heap_;
        heap_ = nullptr;
        return h;
    }
    void reset(keel_heap* heap = nullptr) noexcept {   // destroys the one held
        keel_heap_destroy(heap_);
        heap_ = heap;
    }

private:
    keel_heap* heap_;
};

}  // namespace keel

#endif  // KEEL_KEEL_HPP

// ---- KEEL_OVERRIDE_NEW: outside the include guard, so a unit that saw
// keel.hpp before defining KEEL_OVERRIDE_NEW still gets it, once. ----
#if defined(KEEL_OVERRIDE_NEW) && !defined(KEEL_HPP_OVERRIDE_NEW_DEFINED)
#define KEEL_HPP_OVERRIDE_NEW_DEFINED

namespace keel {
namespace detail {

// Plain new must suit any type up to the platform's default new alignment.
#ifdef __STDCPP_DEFAULT_NEW_ALIGNMENT__
static const std::size_t default_new_alignment = __STDCPP_DEFAULT_NEW_ALIGNMENT__;
#else
static const std::size_t default_new_alignment = alignof(std::max_align_t);
#endif

[[noreturn]] inline void throw_bad_alloc() {
#if KEEL_HPP_EXCEPTIONS
    throw std::bad_alloc();
#else
    std::abort();
#endif
}

// [new.delete.single]: while allocation fails, call the new_handler and
// retry; with none installed, throw bad_alloc.
inline void* new_or_throw(std::size_t num_bytes, std::size_t alignment) {
    for (;;) {
        void* p = alloc_block(num_bytes, alignment);
        if (p) return p;
        std::new_handler handler = std::get_new_handler();
        if (!handler) throw_bad_alloc();
        handler();
    }
}

// The nothrow forms: as new_or_throw, nullptr where it would throw (the
// handler itself may throw bad_alloc to give up).
inline void* new_or_null(std::size_t num_bytes, std::size_t alignment) noexcept {
    for (;;) {
        void* p = alloc_block(num_bytes, alignment);
        if (p) return p;
        std::new_handler handler = std::get_new_handler();
        if (!handler) return nullptr;
#if KEEL_HPP_EXCEPTIONS
        try {
            handler();
        } catch (...) {
            return nullptr;
        }
#else
        handler();
#endif
    }
}

}  // namespace detail
}  // namespace keel

void* operator new(std::size_t num_bytes) {
    return keel::detail::new_or_throw(num_bytes, keel::detail::default_new_alignment);
}
void* operator new[](std::size_t num_bytes) {
    return keel::detail::new_or_throw(num_bytes, keel::detail::default_new_alignment);
}
void* operator new(std::size_t num_bytes, const std::nothrow_t&) noexcept {
    return keel::detail::new_or_null(num_bytes, keel::detail::default_new_alignment);
}
void* operator new[](std::size_t num_bytes, const std::nothrow_t&) noexcept {
    return keel::detail::new_or_null(num_bytes, keel::detail::default_new_alignment);
}
void operator delete(void* ptr) noexcept { keel_free(ptr); }
void operator delete[](void* ptr) noexcept { keel_free(ptr); }
void operator delete(void* ptr, const std::nothrow_t&) noexcept { keel_free(ptr); }
void operator delete[](void* ptr, const std::nothrow_t&) noexcept { keel_free(ptr); }

// Sized deletes: part of C++14 even where the compiler does not call them
// (clang before 19 without -fsized-deallocation); the runtime's own code may.
#if __cplusplus >= 201402L || defined(__cpp_sized_deallocation)
#  ifndef __cpp_sized_deallocation
void operator delete(void* ptr, std::size_t num_bytes) noexcept;
void operator delete[](void* ptr, std::size_t num_bytes) noexcept;
#  endif
void operator delete(void* ptr, std::size_t) noexcept { keel_free(ptr); }
void operator delete[](void* ptr, std::size_t) noexcept { keel_free(ptr); }
#endif

#ifdef __cpp_aligned_new
void* operator new(std::size_t num_bytes, std::align_val_t alignment) {
    return keel::detail::new_or_throw(num_bytes, static_cast<std::size_t>(alignment));
}
void* operator new[](std::size_t num_bytes, std::align_val_t alignment) {
    return keel::detail::new_or_throw(num_bytes, static_cast<std::size_t>(alignment));
}
void* operator new(std::size_t num_bytes, std::align_val_t alignment, const std::nothrow_t&) noexcept {
    return keel::detail::new_or_null(num_bytes, static_cast<std::size_t>(alignment));
}
void* operator new[](std::size_t num_bytes, std::align_val_t alignment, const std::nothrow_t&) noexcept {
    return keel::detail::new_or_null(num_bytes, static_cast<std::size_t>(alignment));
}
void operator delete(void* ptr, std::align_val_t) noexcept { keel_free(ptr); }
void operator delete[](void* ptr, std::align_val_t) noexcept { keel_free(ptr); }
void operator delete(void* ptr, std::align_val_t, const std::nothrow_t&) noexcept { keel_free(ptr); }
void operator delete[](void* ptr, std::align_val_t, const std::nothrow_t&) noexcept { keel_free(ptr); }
#  ifndef __cpp_sized_deallocation
void operator delete(void* ptr, std::size_t num_bytes, std::align_val_t alignment) noexcept;
void operator delete[](void* ptr, std::size_t num_bytes, std::align_val_t alignment) noexcept;
#  endif
void operator delete(void* ptr, std::size_t, std::align_val_t) noexcept { keel_free(ptr); }
void operator delete[](void* ptr, std::size_t, std::align_val_t) noexcept { keel_free(ptr); }
#endif

#endif  // KEEL_OVERRIDE_NEW
