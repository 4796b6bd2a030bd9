from pathlib import Path

from setuptools import find_packages, setup


def read_requirements():
    """The pinned stack from requirements.txt, minus build-only tools."""
    build_only = {'wheel', 'ninja', 'pytest'}
    lines = Path(__file__).with_name('requirements.txt').read_text().splitlines()
    reqs = [line.strip() for line in lines if line.strip() and not line.startswith('#')]
    return [r for r in reqs if r.split('=')[0].split('<')[0].split('>')[0] not in build_only]


setup(
    name='mmsls',
    version='0.1.0',
    description='Adapters, SLS layer selection and progressive depth pruning for OpenMMLab vision models',
    packages=find_packages(include=['mmsls', 'mmsls.*']),
    python_requires='>=3.9',
    install_requires=read_requirements(),
    include_package_data=True,
)
