"""Start the face mask detector node, and optionally rviz2 showing its annotated image and
the example behaviour mask_reminder.

    ros2 launch marrtino_facemask detector.launch.py image_topic:=/usb_cam/image_raw rviz:=true
    ros2 launch marrtino_facemask detector.launch.py namespace:=robot1   # robot1/camera/image_raw
    ros2 launch marrtino_facemask detector.launch.py reminder:=true say_topic:=/speech/to_speak
"""
import os

from ament_index_python.packages import get_package_share_directory
from launch.actions import DeclareLaunchArgument
from launch.conditions import IfCondition
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

from launch import LaunchDescription


def generate_launch_description():
    share = get_package_share_directory('marrtino_facemask')
    default_params = os.path.join(share, 'config', 'detector.yaml')
    rviz_config = os.path.join(share, 'config', 'facemask.rviz')

    params_file = LaunchConfiguration('params_file')
    image_topic = LaunchConfiguration('image_topic')
    namespace = LaunchConfiguration('namespace')
    rviz = LaunchConfiguration('rviz')
    reminder = LaunchConfiguration('reminder')
    say_topic = LaunchConfiguration('say_topic')

    return LaunchDescription([
        DeclareLaunchArgument(
            'params_file', default_value=default_params,
            description='YAML file with the detector node parameters'),
        DeclareLaunchArgument(
            'image_topic', default_value='camera/image_raw',
            description='camera topic: remaps the default camera/image_raw (and its '
                        '/compressed), so an image_topic set in params_file still applies; '
                        'a relative name follows namespace'),
        DeclareLaunchArgument(
            'namespace', default_value='',
            description='Namespace for the detector node'),
        DeclareLaunchArgument(
            'rviz', default_value='false',
            description='Also start rviz2 showing the annotated image'),
        DeclareLaunchArgument(
            'reminder', default_value='false',
            description='Also start mask_reminder, which asks unmasked people to wear a mask'),
        DeclareLaunchArgument(
            'say_topic', default_value='/speech/to_speak',
            description="mask_reminder's std_msgs/String output: the robot's text-to-speech "
                        "topic (MARRtino's tts_node listens on /speech/to_speak)"),
        Node(
            package='marrtino_facemask',
            executable='facemask_detector',
            name='facemask_detector',
            namespace=namespace,
            parameters=[params_file],
            remappings=[('camera/image_raw', image_topic),
                        ('camera/image_raw/compressed', [image_topic, '/compressed'])],
            output='screen',
            emulate_tty=True,
        ),
        Node(
            package='rviz2',
            executable='rviz2',
            name='rviz2',
            namespace=namespace,
            arguments=['-d', rviz_config],
            # the config shows /facemask/image_annotated: follow the detector's namespace
            remappings=[('/facemask/image_annotated', 'facemask/image_annotated')],
            output='screen',
            condition=IfCondition(rviz),
        ),
        Node(
            package='marrtino_facemask',
            executable='mask_reminder',
            name='mask_reminder',
            namespace=namespace,
            parameters=[{'say_topic': say_topic}],
            output='screen',
            emulate_tty=True,
            condition=IfCondition(reminder),
        ),
    ])
