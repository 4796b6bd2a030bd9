"""Packaging of mmsls: ranges from requirements/, configs and tools for mim under mmsls/.mim.

install_requires is requirements/runtime.txt (ranges only); the OpenMMLab libraries are extras:
mmsls[det], mmsls[seg], mmsls[cls], mmsls[all] (pip), or requirements/mminstall.txt (`mim install`).
The exact versions our own .venv is tested with are in requirements/lock.txt, which only
tools/setup_env.sh reads.
"""
import os
import os.path as osp
import shutil
import sys

from setuptools import find_packages, setup

ROOT = osp.dirname(osp.abspath(__file__))
# What mim looks for in an installed package: <package>/.mim/{configs,tools,model-index.yml}.
MIM_FILES = ('configs', 'tools', 'model-index.yml')


def read_requirements(name: str) -> list:
    """The requirement lines of requirements/<name>.txt, without comments."""
    with open(osp.join(ROOT, 'requirements', f'{name}.txt')) as file:
        lines = [line.split('#', 1)[0].strip() for line in file]
    requirements = [line for line in lines if line]
    pinned = [line for line in requirements if '==' in line]
    if pinned:  # exact versions belong to requirements/lock.txt, never to a user's install
        raise ValueError(f'requirements/{name}.txt pins exact versions: {pinned}')
    return requirements


def read_version() -> str:
    namespace = {}
    with open(osp.join(ROOT, 'mmsls', 'version.py')) as file:
        exec(compile(file.read(), 'mmsls/version.py', 'exec'), namespace)
    return namespace['__version__']


def add_mim_extension() -> None:
    """Put configs/, tools/ and model-index.yml under mmsls/.mim, where mim finds them.

    Links for editable installs (``pip install -e .``: the repository's own files stay the ones
    used), copies when building an sdist or a wheel (the archive must hold the files).
    """
    if {'develop', 'editable_wheel'} & set(sys.argv):
        mode = 'copy' if os.name == 'nt' else 'symlink'
    elif {'sdist', 'bdist_wheel', 'build', 'build_py'} & set(sys.argv):
        mode = 'copy'
    else:
        return
    mim_dir = osp.join(ROOT, 'mmsls', '.mim')
    os.makedirs(mim_dir, exist_ok=True)
    for name in MIM_FILES:
        source, target = osp.join(ROOT, name), osp.join(mim_dir, name)
        if not osp.exists(source):
            # In an unpacked sdist the files are already in mmsls/.mim.
            continue
        if osp.islink(target) or osp.isfile(target):
            os.remove(target)
        elif osp.isdir(target):
            shutil.rmtree(target)
        if mode == 'symlink':
            os.symlink(osp.relpath(source, mim_dir), target)
        elif osp.isdir(source):
            shutil.copytree(source, target, ignore=shutil.ignore_patterns('__pycache__', '*.pyc'))
        else:
            shutil.copyfile(source, target)


def extras() -> dict:
    mm = {line.split('>')[0].split('<')[0].split('=')[0]: line
          for line in read_requirements('mminstall')}
    # mmseg 1.2 imports ftfy and regex without declaring them.
    det = [mm['mmcv'], mm['mmdet']]
    seg = [mm['mmcv'], mm['mmsegmentation'], 'ftfy', 'regex']
    cls = [mm['mmcv'], mm['mmpretrain']]
    optional = read_requirements('optional')
    return {
        'det': det,
        'seg': seg,
        'cls': cls,
        'all': sorted(set(det + seg + cls + optional)),
        'optional': optional,
        'mim': read_requirements('mminstall'),
        'tests': read_requirements('tests'),
    }


if __name__ == '__main__':
    add_mim_extension()
    with open(osp.join(ROOT, 'README.md'), encoding='utf-8') as readme:
        long_description = readme.read()
    setup(
        name='mmsls',
        version=read_version(),
        description=('Adapters, SLS layer selection and progressive depth pruning for OpenMMLab '
                     'vision models'),
        long_description=long_description,
        long_description_content_type='text/markdown',
        license='Apache License 2.0',
        keywords='computer vision, parameter-efficient transfer, layer pruning, OpenMMLab',
        packages=find_packages(include=['mmsls', 'mmsls.*']),
        include_package_data=True,
        python_requires='>=3.9',
        classifiers=[
            'Operating System :: OS Independent',
            'Programming Language :: Python :: 3',
            'Topic :: Scientific/Engineering :: Artificial Intelligence',
        ],
        install_requires=read_requirements('runtime'),
        extras_require=extras(),
        zip_safe=False,
    )
