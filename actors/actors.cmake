# The actor shells (one source per actor) and the flow's wiring.
add_library(aikid_actors STATIC
  ${CMAKE_CURRENT_SOURCE_DIR}/spawn.cpp
  ${CMAKE_CURRENT_SOURCE_DIR}/perception/perception_actor.cpp
  ${CMAKE_CURRENT_SOURCE_DIR}/embedding/embedding_actor.cpp
  ${CMAKE_CURRENT_SOURCE_DIR}/memory/memory_actor.cpp
  ${CMAKE_CURRENT_SOURCE_DIR}/synthesis/synthesis_actor.cpp
  ${CMAKE_CURRENT_SOURCE_DIR}/inference/inference_actor.cpp
  ${CMAKE_CURRENT_SOURCE_DIR}/proactive/proactive_actor.cpp)
target_link_libraries(aikid_actors PUBLIC caf::core aikid_protocol aikid_config aikid_keys
  aikid_embedding aikid_memory aikid_synthesis aikid_inference PkgConfig::UTF8PROC spdlog::spdlog)
