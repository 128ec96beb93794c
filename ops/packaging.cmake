# Debian packages: `bash ops/package.sh OUTDIR` configures a build with
# CMAKE_INSTALL_PREFIX=/usr and runs `cpack -G DEB`, which makes one
# package per install component:
#   hpt-master  hptmaster, hptmaster.service, /etc/hpt/cluster.yaml
#               (conffile), maintainer scripts that make the system user
#               hpt and /var/lib/hpt (0700)
#   hpt-agent   hptagent, hptagent.service, /etc/default/hptagent
#               (conffile), /var/lib/hpt-agent
#   hpt-client  hpt and its bash completion
# Dependencies come from dpkg-shlibdeps on the installed binaries
# (CPACK_DEBIAN_PACKAGE_SHLIBDEPS), the version from project(VERSION),
# which is also what every binary's --version prints (hpt_version.h).
# Included from the top CMakeLists.txt; install() rules only matter to
# the packages (and to `cmake --install`).

install(TARGETS hptmaster RUNTIME DESTINATION bin COMPONENT master)
install(FILES ops/systemd/hptmaster.service DESTINATION lib/systemd/system COMPONENT master)
install(FILES ops/deb/cluster.yaml DESTINATION /etc/hpt COMPONENT master)
install(FILES ops/cluster.example.yaml docs/operations.md
  DESTINATION share/doc/hpt-master COMPONENT master)

install(TARGETS hptagent RUNTIME DESTINATION bin COMPONENT agent)
install(FILES ops/systemd/hptagent.service DESTINATION lib/systemd/system COMPONENT agent)
install(FILES ops/deb/hptagent.default DESTINATION /etc/default RENAME hptagent COMPONENT agent)
install(FILES docs/operations.md DESTINATION share/doc/hpt-agent COMPONENT agent)

install(TARGETS hpt RUNTIME DESTINATION bin COMPONENT client)
install(FILES ops/completion/hpt.bash DESTINATION share/bash-completion/completions
  RENAME hpt COMPONENT client)

set(CPACK_GENERATOR DEB)
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_COMPONENTS_ALL master agent client)
set(CPACK_PACKAGE_NAME hpt)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_CONTACT "hpt maintainers <hpt@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "distributed hyperparameter tuning on your own machines")
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION science)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
set(CPACK_DEBIAN_MASTER_PACKAGE_NAME hpt-master)
set(CPACK_DEBIAN_MASTER_PACKAGE_DEPENDS "adduser, procps")
set(CPACK_DEBIAN_MASTER_DESCRIPTION "hpt master: REST API, store, optimizer and scheduler
 Runs hyperparameter tuning jobs (AI Platform Training's API) on hpt-agent hosts.")
set(CPACK_DEBIAN_MASTER_PACKAGE_CONTROL_EXTRA
  "${PROJECT_SOURCE_DIR}/ops/deb/master/conffiles;${PROJECT_SOURCE_DIR}/ops/deb/master/postinst;${PROJECT_SOURCE_DIR}/ops/deb/master/prerm;${PROJECT_SOURCE_DIR}/ops/deb/master/postrm")
set(CPACK_DEBIAN_AGENT_PACKAGE_NAME hpt-agent)
set(CPACK_DEBIAN_AGENT_DESCRIPTION "hpt agent: runs trial tasks on a GPU host for an hpt master")
set(CPACK_DEBIAN_AGENT_PACKAGE_CONTROL_EXTRA
  "${PROJECT_SOURCE_DIR}/ops/deb/agent/conffiles;${PROJECT_SOURCE_DIR}/ops/deb/agent/postinst;${PROJECT_SOURCE_DIR}/ops/deb/agent/prerm;${PROJECT_SOURCE_DIR}/ops/deb/agent/postrm")
set(CPACK_DEBIAN_CLIENT_PACKAGE_NAME hpt-client)
set(CPACK_DEBIAN_CLIENT_DESCRIPTION "hpt: the command-line client of an hpt master (gcloud-shaped)")
include(CPack)
