"""What a user configures before anything is computed: formulations, integration rules, the solve's options
(optimizer, fixed-point iteration, GMM settings) and the work budget that sizes a job from its dimensions."""
