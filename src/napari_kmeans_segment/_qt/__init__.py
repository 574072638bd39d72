"""Qt views of the plugin: the dock form, the cluster panel and plots."""
