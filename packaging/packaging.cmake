# What the Debian packages ship beyond the programs and the library (man
# pages, shell completion, the systemd unit, /etc/default/intent-bus, the
# docs) and the packages themselves: `make deb` configures a build with
# -DINTENT_BUS_PACKAGE=ON and runs CPack's DEB generator on it. Three
# packages, one per install component:
#   intent-bus        (server)  both executables, unit, defaults, man pages
#   libintentbus1     (lib)     the shared library, named after its soname
#   libintentbus-dev  (dev)     header, .so link, static library, .pc
# Maintainer scripts and the copyright file are in packaging/debian/.
option(INTENT_BUS_PACKAGE "Install the man pages, completion, systemd unit and docs (make deb)" OFF)
if(NOT INTENT_BUS_PACKAGE)
  return()
endif()

set(IB_PACKAGING ${CMAKE_CURRENT_LIST_DIR})
set(IB_DEBIAN_REVISION 1)
set(IB_MAINTAINER "The Intent Bus developers <maintainers@users.noreply.b-seed-da09d9d0.example>")
set(IB_GENERATED ${CMAKE_BINARY_DIR}/packaging)

# Man pages from --help (packaging/make-man.sh), compressed as policy wants.
set(IB_MAN_PAGES intent-bus.1 intent-bus-serve.8 intent-bus-client.1)
set(IB_MAN_OUTPUTS "")
foreach(page ${IB_MAN_PAGES})
  list(APPEND IB_MAN_OUTPUTS ${IB_GENERATED}/man/${page}.gz)
endforeach()
file(GLOB IB_MAN_INPUTS ${IB_PACKAGING}/man/*.in)
add_custom_command(OUTPUT ${IB_MAN_OUTPUTS}
  COMMAND bash ${IB_PACKAGING}/make-man.sh $<TARGET_FILE_DIR:intent-bus> ${IB_GENERATED}/man
  COMMAND gzip -9nf ${IB_MAN_PAGES}
  WORKING_DIRECTORY ${IB_GENERATED}/man
  DEPENDS intent-bus intent-bus-client ${IB_PACKAGING}/make-man.sh ${IB_MAN_INPUTS}
          ${PROJECT_SOURCE_DIR}/CHANGELOG.md
  COMMENT "Generating the man pages from --help")
file(MAKE_DIRECTORY ${IB_GENERATED}/man ${IB_GENERATED}/doc)

# The changelogs every Debian package carries: the project's own, and a
# Debian one for the revision, dated like the release.
file(STRINGS ${PROJECT_SOURCE_DIR}/CHANGELOG.md IB_RELEASE_LINE
     REGEX "^## ${PROJECT_VERSION} " ENCODING UTF-8)
string(REGEX MATCH "[0-9]+-[0-9]+-[0-9]+" IB_RELEASE_DATE "${IB_RELEASE_LINE}")
if(NOT IB_RELEASE_DATE)
  message(FATAL_ERROR "CHANGELOG.md has no \"## ${PROJECT_VERSION} — YYYY-MM-DD\" heading")
endif()
execute_process(COMMAND date -u -R -d ${IB_RELEASE_DATE}
                OUTPUT_VARIABLE IB_RELEASE_RFC2822 OUTPUT_STRIP_TRAILING_WHITESPACE)
file(WRITE ${IB_GENERATED}/doc/changelog.Debian
  "intent-bus (${PROJECT_VERSION}-${IB_DEBIAN_REVISION}) unstable; urgency=medium\n\n"
  "  * Release ${PROJECT_VERSION}; see changelog.gz.\n\n"
  " -- ${IB_MAINTAINER}  ${IB_RELEASE_RFC2822}\n")
configure_file(${PROJECT_SOURCE_DIR}/CHANGELOG.md ${IB_GENERATED}/doc/changelog COPYONLY)
add_custom_command(OUTPUT ${IB_GENERATED}/doc/changelog.gz ${IB_GENERATED}/doc/changelog.Debian.gz
  COMMAND gzip -9nkf changelog changelog.Debian
  WORKING_DIRECTORY ${IB_GENERATED}/doc
  DEPENDS ${IB_GENERATED}/doc/changelog ${IB_GENERATED}/doc/changelog.Debian)
add_custom_target(intent_bus_package_files ALL DEPENDS ${IB_MAN_OUTPUTS}
  ${IB_GENERATED}/doc/changelog.gz ${IB_GENERATED}/doc/changelog.Debian.gz)

include(GNUInstallDirs)
install(FILES ${IB_GENERATED}/man/intent-bus.1.gz ${IB_GENERATED}/man/intent-bus-client.1.gz
        DESTINATION ${CMAKE_INSTALL_MANDIR}/man1 COMPONENT server)
install(FILES ${IB_GENERATED}/man/intent-bus-serve.8.gz
        DESTINATION ${CMAKE_INSTALL_MANDIR}/man8 COMPONENT server)
install(FILES ${IB_PACKAGING}/completion/intent-bus.bash
        DESTINATION ${CMAKE_INSTALL_DATADIR}/bash-completion/completions RENAME intent-bus
        COMPONENT server)
install(FILES ${IB_PACKAGING}/completion/_intent-bus
        DESTINATION ${CMAKE_INSTALL_DATADIR}/zsh/vendor-completions COMPONENT server)
install(FILES ${IB_PACKAGING}/systemd/intent-bus.service
        DESTINATION /lib/systemd/system COMPONENT server)
install(FILES ${IB_PACKAGING}/debian/intent-bus.default DESTINATION /etc/default
        RENAME intent-bus PERMISSIONS OWNER_READ OWNER_WRITE COMPONENT server)
install(FILES ${PROJECT_SOURCE_DIR}/README.md ${PROJECT_SOURCE_DIR}/docs/DEPLOY.md
        DESTINATION ${CMAKE_INSTALL_DATADIR}/doc/intent-bus COMPONENT server)
foreach(component_package server:intent-bus lib:libintentbus${PROJECT_VERSION_MAJOR}
        dev:libintentbus-dev)
  string(REPLACE ":" ";" pair ${component_package})
  list(GET pair 0 component)
  list(GET pair 1 package)
  install(FILES ${IB_PACKAGING}/debian/copyright ${IB_GENERATED}/doc/changelog.gz
                ${IB_GENERATED}/doc/changelog.Debian.gz
          DESTINATION ${CMAKE_INSTALL_DATADIR}/doc/${package} COMPONENT ${component})
  # Each tag overridden there says why.
  install(FILES ${IB_PACKAGING}/debian/lintian/${package}
          DESTINATION ${CMAKE_INSTALL_DATADIR}/lintian/overrides COMPONENT ${component})
endforeach()

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME intent-bus)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_CONTACT "${IB_MAINTAINER}")
set(CPACK_PACKAGE_VENDOR "The Intent Bus developers")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_COMPONENTS_ALL server lib dev)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_RELEASE ${IB_DEBIAN_REVISION})
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_GENERATE_SHLIBS ON)
set(CPACK_DEBIAN_PACKAGE_GENERATE_SHLIBS_POLICY ">=")
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
set(IB_DEB_VERSION "${PROJECT_VERSION}-${IB_DEBIAN_REVISION}")

set(CPACK_DEBIAN_SERVER_PACKAGE_NAME intent-bus)
set(CPACK_DEBIAN_SERVER_PACKAGE_SECTION net)
set(CPACK_DEBIAN_SERVER_PACKAGE_DEPENDS "adduser")
# serve --database loads libpq at run time (src/store/postgres_libpq.h), so
# dpkg-shlibdeps cannot see it; SQLite needs nothing more.
set(CPACK_DEBIAN_SERVER_PACKAGE_RECOMMENDS "libpq5")
set(CPACK_DEBIAN_SERVER_PACKAGE_CONTROL_EXTRA
    ${IB_PACKAGING}/debian/postinst ${IB_PACKAGING}/debian/prerm
    ${IB_PACKAGING}/debian/postrm ${IB_PACKAGING}/debian/conffiles)
set(CPACK_COMPONENT_SERVER_DESCRIPTION "job bus for scripts on many devices, over HTTP
Intent Bus is a small job bus: a script publishes an intent (a goal and a
JSON payload); a worker anywhere (a VPS, a Raspberry Pi, a phone in
Termux) claims it over plain HTTP, runs it and fulfils it. It speaks the
Intent Protocol v2.1: leases and claim tokens, retries with backoff, dead
letters, priorities, namespaces, delayed jobs, results, idempotency keys
and a KV store, on SQLite.
.
This package holds the server (intent-bus serve, run by the hardened
intent-bus.service) and the command-line client.")

set(CPACK_DEBIAN_LIB_PACKAGE_NAME libintentbus${PROJECT_VERSION_MAJOR})
set(CPACK_DEBIAN_LIB_PACKAGE_SECTION libs)
set(CPACK_DEBIAN_LIB_PACKAGE_CONTROL_EXTRA ${IB_PACKAGING}/debian/triggers
    ${IB_GENERATED}/lib/postinst ${IB_GENERATED}/lib/postrm)
# CPack takes control files by their names.
foreach(script postinst postrm)
  configure_file(${IB_PACKAGING}/debian/lib.${script} ${IB_GENERATED}/lib/${script} COPYONLY)
endforeach()
set(CPACK_COMPONENT_LIB_DESCRIPTION "C client library for Intent Bus
libintentbus publishes, claims, fulfils and fails intents, extends leases,
reads results and uses the KV store of an Intent Bus (Intent Protocol
v2.1), with HMAC request signing and long-poll claims.
.
This package holds the shared library.")

set(CPACK_DEBIAN_DEV_PACKAGE_NAME libintentbus-dev)
set(CPACK_DEBIAN_DEV_PACKAGE_SECTION libdevel)
set(CPACK_DEBIAN_DEV_PACKAGE_DEPENDS
    "libintentbus${PROJECT_VERSION_MAJOR} (= ${IB_DEB_VERSION}), libcurl4-openssl-dev | libcurl-dev, libjansson-dev, nettle-dev")
set(CPACK_COMPONENT_DEV_DESCRIPTION "C client library for Intent Bus (development files)
libintentbus publishes, claims, fulfils and fails intents, extends leases,
reads results and uses the KV store of an Intent Bus (Intent Protocol
v2.1), with HMAC request signing and long-poll claims.
.
This package holds the header, the static library and the pkg-config file.")

include(CPack)
