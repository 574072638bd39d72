"""Qt views of the plugin: the dock form, the cluster panel, plots, the live preview, and the
one helper that starts background jobs. Cluster state and actions live in the Qt-free session."""
