"""Service groups (服务群): hospital chats of the bot, agents, engineers and verified lab users."""
