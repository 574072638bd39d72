"""The Qt views: the dock form, the cluster panel, the live preview, and the one helper that
starts background jobs. The cluster state and actions live in the Qt-free session."""
