/* A Vulkan driver (ICD) that wraps Mesa's lavapipe, the software Vulkan driver, for
 * scripts/lavapipe-check.sh: it forwards every call to libvulkan_lvp.so and changes one
 * answer, reporting vulkanMemoryModel = FALSE (VkPhysicalDeviceVulkanMemoryModelFeatures and
 * the Vulkan 1.2 feature struct).
 *
 * Why: with the memory model present, CubeCL 0.11 compiles kernels with its own SPIR-V
 * compiler. On a device without workgroup explicit layout (lavapipe 22.3) that compiler
 * declares shared memory as a pointer to a pointer (cubecl-spirv 0.11.3,
 * ops/memory.rs lower_shared_implicit), and lavapipe crashes compiling the first kernel that
 * uses shared memory. Without the memory model CubeCL takes its WGSL compiler (naga then
 * emits the SPIR-V), which lavapipe runs. NVIDIA drivers take neither branch of this: they
 * have the explicit layout, so the GPU check still exercises the SPIR-V compiler.
 *
 * Build: gcc -O2 -shared -fPIC -o libvulkan_lvp_shim.so shim.c -ldl
 * LVP_SHIM_REAL overrides the path of the real driver. */
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef void (*PFN_void)(void);
typedef PFN_void (*PFN_proc)(void *instance, const char *name);
typedef int32_t (*PFN_negotiate)(uint32_t *version);
typedef void (*PFN_features2)(void *physical_device, void *features2);

/* The header every Vulkan structure starts with (sType, pNext). */
struct header {
    int32_t s_type;
    struct header *next;
};

#define STYPE_VULKAN_1_2_FEATURES 51
#define STYPE_MEMORY_MODEL_FEATURES 1000211000
/* Index of vulkanMemoryModel among the VkBool32 fields of VkPhysicalDeviceVulkan12Features
 * (followed by ...DeviceScope and ...AvailabilityVisibilityChains). */
#define VULKAN_1_2_MEMORY_MODEL 41

static void *real;
static PFN_proc real_instance_proc, real_physical_proc;
static PFN_negotiate real_negotiate;
static PFN_features2 real_features2, real_features2_khr;

static void load(void) {
    if (real) return;
    const char *path = getenv("LVP_SHIM_REAL");
    if (!path) path = "libvulkan_lvp.so";
    real = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!real) {
        fprintf(stderr, "lavapipe shim: cannot load %s: %s\n", path, dlerror());
        abort();
    }
    real_instance_proc = (PFN_proc)dlsym(real, "vk_icdGetInstanceProcAddr");
    real_physical_proc = (PFN_proc)dlsym(real, "vk_icdGetPhysicalDeviceProcAddr");
    real_negotiate = (PFN_negotiate)dlsym(real, "vk_icdNegotiateLoaderICDInterfaceVersion");
    if (!real_instance_proc || !real_negotiate) {
        fprintf(stderr, "lavapipe shim: %s is not a Vulkan driver\n", path);
        abort();
    }
}

/* Clears the memory-model flags in a feature chain the driver filled. */
static void hide_memory_model(void *features2) {
    for (struct header *s = features2; s; s = s->next) {
        uint32_t *flags = (uint32_t *)((char *)s + sizeof(struct header));
        if (s->s_type == STYPE_MEMORY_MODEL_FEATURES) {
            flags[0] = flags[1] = flags[2] = 0;
        } else if (s->s_type == STYPE_VULKAN_1_2_FEATURES) {
            flags[VULKAN_1_2_MEMORY_MODEL] = 0;
            flags[VULKAN_1_2_MEMORY_MODEL + 1] = 0;
            flags[VULKAN_1_2_MEMORY_MODEL + 2] = 0;
        }
    }
}

static void features2(void *pd, void *f) { real_features2(pd, f); hide_memory_model(f); }
static void features2_khr(void *pd, void *f) { real_features2_khr(pd, f); hide_memory_model(f); }

static PFN_void wrap(const char *name, PFN_void fn) {
    if (!fn) return fn;
    if (!strcmp(name, "vkGetPhysicalDeviceFeatures2")) {
        real_features2 = (PFN_features2)fn;
        return (PFN_void)features2;
    }
    if (!strcmp(name, "vkGetPhysicalDeviceFeatures2KHR")) {
        real_features2_khr = (PFN_features2)fn;
        return (PFN_void)features2_khr;
    }
    return fn;
}

__attribute__((visibility("default"))) int32_t
vk_icdNegotiateLoaderICDInterfaceVersion(uint32_t *version) {
    load();
    return real_negotiate(version);
}

__attribute__((visibility("default"))) PFN_void
vk_icdGetInstanceProcAddr(void *instance, const char *name) {
    load();
    return wrap(name, real_instance_proc(instance, name));
}

__attribute__((visibility("default"))) PFN_void
vk_icdGetPhysicalDeviceProcAddr(void *instance, const char *name) {
    load();
    return real_physical_proc ? wrap(name, real_physical_proc(instance, name)) : NULL;
}
