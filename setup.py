import os
from glob import glob

from setuptools import find_packages, setup

package_name = 'marrtino_facemask'
share = os.path.join('share', package_name)


def files(pattern):
    """Regular files matching pattern, relative to this directory (sorted)."""
    return sorted(f for f in glob(pattern) if os.path.isfile(f))


def tree(top):
    """data_files entries installing every file under top/ into share/<package>/top/."""
    entries = []
    for dirpath, dirnames, filenames in os.walk(top):
        dirnames[:] = sorted(d for d in dirnames if d != '__pycache__')
        if filenames:
            entries.append((os.path.join(share, dirpath),
                            sorted(os.path.join(dirpath, f) for f in filenames)))
    return entries


setup(
    name=package_name,
    version='0.2.0',
    packages=find_packages(exclude=['test', 'test.*']),
    data_files=[
        ('share/ament_index/resource_index/packages', ['resource/' + package_name]),
        (share, ['package.xml']),
        (os.path.join(share, 'launch'), files('launch/*.launch.py')),
        (os.path.join(share, 'config'), files('config/*.yaml') + files('config/*.rviz')
         + files('config/*.xml')),
    ] + tree('models'),
    install_requires=['setuptools'],
    zip_safe=True,
    maintainer='MARRtino team',
    maintainer_email='marrtino@example.org',
    description='Face mask detection node for the MARRtino robot (ROS 2).',
    license='Apache-2.0',
    extras_require={'test': ['pytest']},
    entry_points={
        'console_scripts': [
            'facemask_detector = marrtino_facemask.ros.node:main',
            'mask_reminder = marrtino_facemask.ros.reminder:main',
        ],
    },
)
