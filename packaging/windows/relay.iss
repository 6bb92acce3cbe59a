; Inno Setup script: a per-user install of the frozen relay program (no admin rights).
; Build dist\relay first (bash scripts/package.sh, or PyInstaller with packaging\relay.spec), then
;     ISCC.exe /DAppVersion=0.1.0 packaging\windows\relay.iss
; Output: dist\relay-setup-<version>.exe
;
; The program goes to %LOCALAPPDATA%\Programs\relay. relay's own data (outbox.db, relay.toml,
; logs) lives in %LOCALAPPDATA%\relay and is never touched by installing, upgrading or
; uninstalling: an upgrade replaces the program only and the outbox migrates itself.

#ifndef AppVersion
  #define AppVersion "0.0.0"
#endif

[Setup]
AppId={{6F1C2B7E-4E0B-4C55-9C1E-2A7D5B3E8F41}
AppName=relay
AppVersion={#AppVersion}
AppVerName=relay {#AppVersion}
DefaultDirName={localappdata}\Programs\relay
DefaultGroupName=relay
DisableProgramGroupPage=yes
PrivilegesRequired=lowest
ArchitecturesAllowed=x64compatible
ArchitecturesInstallIn64BitMode=x64compatible
SourceDir=..\..
OutputDir=dist
OutputBaseFilename=relay-setup-{#AppVersion}
Compression=lzma2
SolidCompression=yes
WizardStyle=modern
UninstallDisplayIcon={app}\relay.exe
; A running relay is closed for an upgrade (its outbox is safe at any instant) and started again
; by the last page's "Start relay now".
CloseApplications=force
RestartApplications=no

[Tasks]
Name: "autostart"; Description: "Start relay when I log in"; GroupDescription: "Start at login:"

[InstallDelete]
; The previous version's libraries: a new build may not have the same files.
Type: filesandordirs; Name: "{app}\_internal"

[Files]
Source: "dist\relay\*"; DestDir: "{app}"; Flags: ignoreversion recursesubdirs createallsubdirs

[Icons]
Name: "{autoprograms}\relay"; Filename: "{app}\relayw.exe"; Parameters: "gui"; Comment: "Delivers lab results to the central intake"

[Run]
Filename: "{app}\relay.exe"; Parameters: "autostart enable"; Tasks: autostart; Flags: runhidden waituntilterminated; StatusMsg: "Setting relay to start at login..."
Filename: "{app}\relayw.exe"; Parameters: "gui"; Description: "Start relay now"; Flags: postinstall nowait skipifsilent

[UninstallRun]
Filename: "{app}\relay.exe"; Parameters: "autostart disable"; Flags: runhidden waituntilterminated; RunOnceId: "RelayAutostartDisable"
