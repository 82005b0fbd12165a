"""Install vsrkit. The CUDA deformable-conv extension is built only with VSRKIT_CUDA_EXT=1 and a CUDA toolkit;
without it vsrkit uses torchvision's deform_conv2d (or compiles the extension on first use, see vsrkit/ops/dcn)."""
import os
from pathlib import Path

from setuptools import find_packages, setup

HERE = Path(__file__).parent


def read_requirements():
    return [line.strip() for line in (HERE / "requirements.txt").read_text().splitlines()
            if line.strip() and not line.startswith("#")]


def cuda_extensions():
    if os.environ.get("VSRKIT_CUDA_EXT") != "1":
        return [], {}
    # torch guesses CUDA_HOME from the nvcc on PATH (a wrapper in /usr/local/bin here) and then cannot link cudart
    if "CUDA_HOME" not in os.environ and Path("/usr/local/cuda/include/cuda_runtime_api.h").is_file():
        os.environ["CUDA_HOME"] = "/usr/local/cuda"
    from torch.utils.cpp_extension import BuildExtension, CUDAExtension

    src = HERE / "vsrkit" / "ops" / "dcn" / "csrc"
    sources = sorted(str(p.relative_to(HERE)) for p in src.glob("*.c*") if p.suffix in (".cpp", ".cu"))
    ext = CUDAExtension("vsrkit.ops.dcn._ext", sources,
                        extra_compile_args={"cxx": ["-O3"], "nvcc": ["-O3", "--use_fast_math"]})
    return [ext], {"build_ext": BuildExtension}


ext_modules, cmdclass = cuda_extensions()

setup(
    name="vsrkit",
    version="0.1.0",
    description="A unified PyTorch framework for (compressed) video super-resolution",
    long_description=(HERE / "README.md").read_text(),
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    python_requires=">=3.9",
    packages=find_packages(include=["vsrkit", "vsrkit.*"]),
    package_data={"vsrkit.ops.dcn": ["csrc/*"]},
    install_requires=read_requirements(),
    extras_require={"test": ["pytest>=7", "pytest-timeout>=2", "ninja"],  # ninja: the DCN kernel emulation test
                    "onnx": ["onnx>=1.15", "onnxruntime>=1.17"]},  # STDO deployment (scripts/stdo_pipeline.py export)
    ext_modules=ext_modules,
    cmdclass=cmdclass,
)
